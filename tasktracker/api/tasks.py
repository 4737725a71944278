"""Task routes of SPEC §4."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from tasktracker.api import idempotency
from tasktracker.api.blueprint import (
    blp,
    body,
    current_user,
    errors,
    etag,
    if_match_versions,
    json_body,
    paged,
    query,
)
from tasktracker.models import Task
from tasktracker.schemas import (
    EventPageSchema,
    PaginationQuerySchema,
    TagCountSchema,
    TaskBulkSchema,
    TaskBulkWriteSchema,
    TaskListQuerySchema,
    TaskPageSchema,
    TaskPatchSchema,
    TaskSchema,
    TaskWriteSchema,
)
from tasktracker.services import task_lists
from tasktracker.services import tasks as service
from tasktracker.services.idempotency import Kept

TASK_PATH = "/tasks/<id:task_id>"
_ETAG_HEADER = {"ETag": {"description": "The task's version", "schema": {"type": "string"}}}
_IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": 'Refuse the change (412) unless the task is still at this ETag, e.g. "3"',
}
# Dumped once, as the response kept for an Idempotency-Key.
_TASK = TaskSchema()


def _task(task: Task, status: int = 200) -> tuple[Task, int, dict[str, str]]:
    return task, status, etag(task.version)


@blp.route("/tasks", methods=["GET"], tags=["tasks"])
@query(TaskListQuerySchema)
@errors(400, 401)
@blp.response(200, TaskPageSchema, headers={"Link": {"schema": {"type": "string"}}})
def list_tasks() -> Any:
    """List tasks

    Filters combine with AND; `tag` may repeat (every tag must match). Pages by `page` and
    `per_page` (or `skip` and `limit`), or by the `cursor` the `next` link carries.
    """
    return paged(task_lists.list_tasks(current_user(), request.args))


@blp.route("/tasks", methods=["POST"], tags=["tasks"])
@body(TaskWriteSchema)
@blp.doc(parameters=[idempotency.PARAMETER])
@errors(400, 401, 413, 415, 422)
@blp.response(201, TaskSchema, headers=_ETAG_HEADER | idempotency.REPLAYED_HEADER)
def create_task() -> Any:
    """Create a task"""
    owner, data = current_user(), json_body()
    response, headers = idempotency.created_once(
        owner,
        data,
        lambda before_commit: service.create_task(owner, data, before_commit=before_commit),
        lambda task: Kept(201, _TASK.dump(task)),
    )
    headers |= {"Location": response.body["url"], **etag(response.body["version"])}
    return jsonify(response.body), response.status, headers


@blp.route("/tasks/bulk", methods=["POST"], tags=["tasks"])
@body(TaskBulkWriteSchema)
@blp.doc(parameters=[idempotency.PARAMETER])
@errors(400, 401, 413, 415, 422)
@blp.response(201, TaskBulkSchema, headers=idempotency.REPLAYED_HEADER)
def create_tasks() -> Any:
    """Create up to 1 000 tasks at once

    All or nothing: every task is validated as by `POST /api/tasks` before any is written,
    and an invalid one makes the request a 422 whose `details` name `tasks.<index>.<field>`.
    The items come back in the order sent.
    """
    owner, data = current_user(), json_body()
    response, headers = idempotency.created_once(
        owner,
        data,
        lambda before_commit: service.create_tasks(owner, data, before_commit=before_commit),
        lambda tasks: Kept(201, {"items": _TASK.dump(tasks, many=True)}),
    )
    return jsonify(response.body), response.status, headers


@blp.route(TASK_PATH, methods=["GET"], tags=["tasks"])
@blp.doc(
    parameters=[
        {"in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"}}
    ]
)
@errors(401, 404)
@blp.response(200, TaskSchema, headers=_ETAG_HEADER)
@blp.alt_response(304, description="Not modified: If-None-Match names the current version")
def get_task(task_id: int) -> Any:
    """Get a task"""
    task = service.get_task(current_user(), task_id)
    if request.if_none_match.contains_weak(str(task.version)):
        return Response(status=304, headers=etag(task.version))
    return _task(task)


@blp.route(TASK_PATH, methods=["PUT"], tags=["tasks"])
@body(TaskWriteSchema)
@blp.doc(parameters=[_IF_MATCH])
@errors(400, 401, 404, 409, 412, 413, 415, 422)
@blp.response(200, TaskSchema, headers=_ETAG_HEADER)
def replace_task(task_id: int) -> Any:
    """Replace a task

    Every writable field is replaced; a missing optional one takes its default.
    """
    task = service.update_task(
        current_user(), task_id, json_body(), partial=False, if_match=if_match_versions()
    )
    return _task(task)


@blp.route(TASK_PATH, methods=["PATCH"], tags=["tasks"])
@body(TaskPatchSchema(partial=True))
@blp.doc(parameters=[_IF_MATCH])
@errors(400, 401, 404, 409, 412, 413, 415, 422)
@blp.response(200, TaskSchema, headers=_ETAG_HEADER)
def update_task(task_id: int) -> Any:
    """Change some fields of a task

    Only the fields sent change; `null` clears `due_at`.
    """
    task = service.update_task(
        current_user(), task_id, json_body(), partial=True, if_match=if_match_versions()
    )
    return _task(task)


@blp.route(TASK_PATH, methods=["DELETE"], tags=["tasks"])
@errors(401, 404)
@blp.response(204)
def delete_task(task_id: int) -> Any:
    """Move a task to the trash

    Idempotent. The task stays readable (with `deleted_at` set) and can be restored.
    """
    service.delete_task(current_user(), task_id)
    return Response(status=204)


@blp.route(TASK_PATH + "/restore", methods=["POST"], tags=["tasks"])
@errors(401, 404)
@blp.response(200, TaskSchema, headers=_ETAG_HEADER)
def restore_task(task_id: int) -> Any:
    """Restore a task from the trash"""
    return _task(service.restore_task(current_user(), task_id))


@blp.route(TASK_PATH + "/complete", methods=["POST"], tags=["tasks"])
@errors(401, 404, 409)
@blp.response(200, TaskSchema, headers=_ETAG_HEADER)
def complete_task(task_id: int) -> Any:
    """Mark a task completed (idempotent)"""
    return _task(service.complete_task(current_user(), task_id))


@blp.route(TASK_PATH + "/reopen", methods=["POST"], tags=["tasks"])
@errors(401, 404, 409)
@blp.response(200, TaskSchema, headers=_ETAG_HEADER)
def reopen_task(task_id: int) -> Any:
    """Reopen a completed or failed task (idempotent)"""
    return _task(service.reopen_task(current_user(), task_id))


@blp.route(TASK_PATH + "/events", methods=["GET"], tags=["tasks"])
@query(PaginationQuerySchema)
@errors(400, 401, 404)
@blp.response(200, EventPageSchema, headers={"Link": {"schema": {"type": "string"}}})
def list_task_events(task_id: int) -> Any:
    """The task's log, oldest first"""
    return paged(service.list_events(current_user(), task_id, request.args))


@blp.route("/tags", methods=["GET"], tags=["tasks"])
@errors(401)
@blp.response(200, TagCountSchema(many=True))
def list_tags() -> Any:
    """The caller's tags with how many live tasks carry each"""
    return task_lists.tag_counts(current_user())
