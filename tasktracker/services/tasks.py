"""Task use cases. Each loads its input through the schema, changes the task, appends the
task's events and commits once; only the owner ever reaches a task. (Lists of tasks are
services/task_lists.py.)"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    bindparam,
    insert,
)

from tasktracker.database import Prepared
from tasktracker.errors import StaleVersion, TaskInTrash
from tasktracker.extensions import db
from tasktracker.models import (
    EventKind,
    Owner,
    Task,
    TaskEvent,
    TaskStatus,
    utcnow,
)
from tasktracker.pagination import (
    Page,
    SortKey,
    first_page,
    paginate_rows,
)
from tasktracker.schemas import (
    PaginationQuerySchema,
    TaskBulkWriteSchema,
    TaskPatchSchema,
    TaskWriteSchema,
    load_body,
    load_query,
)
from tasktracker.services.jobs import cancel_active_jobs
from tasktracker.services.task_changes import (
    EDITABLE_FIELDS,
    Event,
    lock,
    lock_live,
    record_events,
    save,
    save_many,
    save_status,
    status_change,
)
from tasktracker.services.task_records import (
    TaskRecord,
    get_task,
    written_record,
)
from tasktracker.services.task_tags import attach_tags

# The tables under the mapped classes, for Core statements: a statement of ORM attributes
# goes through the ORM's compilation on every execution.
_TASKS = Task.__table__


# Schemas built once: loading does not change a schema, and building one costs more than
# using it.
_PAGE_QUERY = PaginationQuerySchema()
_WRITE = TaskWriteSchema()
_BULK_WRITE = TaskBulkWriteSchema()
_PATCH = TaskPatchSchema(partial=True)


def list_events(
    owner: Owner, task_id: int, args: Mapping[str, Any] = {}, *, per_page: int | None = None
) -> Page[TaskEvent]:
    """The task's log, oldest first: the page the query `args` ask for, or the first
    `per_page` events."""
    task = get_task(owner, task_id)
    params = load_query(_PAGE_QUERY, args) if per_page is None else first_page(per_page)
    return paginate_rows(
        TaskEvent, TaskEvent.task_id == task.id, [SortKey(TaskEvent.id, descending=False)], params
    )


# --- changing ----------------------------------------------------------------------------


def create_task(
    owner: Owner,
    data: Any,
    *,
    schema: TaskWriteSchema | None = None,
    before_commit: Callable[[TaskRecord], None] | None = None,
) -> TaskRecord:
    """Commits the task and its `created` event. `schema`: how the input arrives
    (TaskFormSchema for an HTML form), same rules. `before_commit` is given the task before
    the commit, to write what must commit with it (the API keeps its response for an
    Idempotency-Key)."""
    (task,) = insert_tasks(owner, [load_body(schema or _WRITE, data)])
    if before_commit is not None:
        before_commit(task)
    db.session.commit()
    return task


def create_tasks(
    owner: Owner,
    data: Any,
    *,
    before_commit: Callable[[list[TaskRecord]], None] | None = None,
) -> list[TaskRecord]:
    """All or nothing: every task of `{"tasks": [...]}` is validated first (a 422 names
    `tasks.<index>.<field>`), then all are committed with their `created` events; returns
    them in the order sent. `before_commit` as for create_task."""
    tasks = insert_tasks(owner, load_body(_BULK_WRITE, data)["tasks"])
    if before_commit is not None:
        before_commit(tasks)
    db.session.commit()
    return tasks


def insert_tasks(owner: Owner, items: Sequence[Mapping[str, Any]]) -> list[TaskRecord]:
    """Inserts tasks loaded by TaskWriteSchema, each with its `created` event and its tags,
    in the caller's transaction (no commit); returns them in order, built from what was
    written. A multi-row INSERT for the tasks (RETURNING their ids in the order sent), one
    for the events, one statement for the tags (attach_tags). SQLAlchemy's insertmanyvalues
    sends an INSERT's rows in pages of at most 1 000 rows and 32 700 bind parameters
    (PostgreSQL allows 65 535 a statement, SQLite 32 766), so up to 1 000 tasks take one
    statement each, and no number of them passes either limit."""
    now = utcnow()
    rows = [new_task_row(owner, fields, now) for fields in items]
    if len(rows) == 1:  # the API's and the pages' create: a statement prepared once
        ids = _INSERT_TASK.all(rows[0])
    else:
        ids = db.session.connection().execute(_INSERT_TASKS, rows).scalars().all()
    record_events(zip(ids, map(created_event, items), strict=True), now)
    attach_tags(
        owner, [(task_id, fields["tags"]) for task_id, fields in zip(ids, items, strict=True)]
    )
    return [
        written_record(task_id, row, fields["tags"])
        for task_id, row, fields in zip(ids, rows, items, strict=True)
    ]


_INSERT_TASKS = insert(_TASKS).returning(_TASKS.c.id, sort_by_parameter_order=True)
# One task, its values bound by column name (new_task_row's).
_TASK_ROW = ("owner_id", *TaskRecord._fields[1:-1])
_INSERT_TASK = Prepared(
    insert(_TASKS).values({name: bindparam(name) for name in _TASK_ROW}).returning(_TASKS.c.id),
    lambda task_id: task_id,
)


def new_task_row(owner: Owner, fields: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The `tasks` row of a task created now from fields loaded by TaskWriteSchema: every
    column but `id`, so that the Task built from it has nothing left to load."""
    return {
        "owner_id": owner.id,
        "title": fields["title"],
        "description": fields["description"],
        "priority": fields["priority"],
        "status": fields["status"],
        "due_at": fields["due_at"],
        "completed_at": now if fields["status"] == TaskStatus.COMPLETED else None,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "version": 1,
    }


def created_event(fields: Mapping[str, Any]) -> Event:
    """The `created` event of a task created from fields loaded by TaskWriteSchema."""
    data = {
        name: _jsonable(fields[name]) for name in ("title", "priority", "status", "due_at", "tags")
    }
    return EventKind.CREATED, "Created.", data


def update_task(
    owner: Owner,
    task_id: int,
    data: Any,
    *,
    partial: bool,
    if_match: Sequence[int] | None = None,
    schema: TaskWriteSchema | None = None,
) -> TaskRecord:
    """PUT (every writable field) or PATCH (the fields sent). Commits; logs what changed.
    The body is validated before the task is even looked up (and locked)."""
    if schema is None:
        schema = _PATCH if partial else _WRITE
    fields = load_body(schema, data)
    task = _task_for_change(owner, task_id, if_match)
    now = utcnow()
    values: dict[str, Any] = {}
    changes: dict[str, list[Any]] = {}
    for name in EDITABLE_FIELDS:
        if name in fields and getattr(task, name) != fields[name]:
            changes[name] = [_jsonable(getattr(task, name)), _jsonable(fields[name])]
            values[name] = fields[name]
    tags = None
    if "tags" in fields and task.tag_names != fields["tags"]:
        changes["tags"] = [task.tag_names, fields["tags"]]
        tags = (owner, fields["tags"])
    events: list[Event] = []
    if changes:
        values["updated_at"] = now
        events.append((EventKind.UPDATED, f"Changed {', '.join(changes)}.", {"changes": changes}))
    if "status" in fields and fields["status"] != task.status:
        status, event = status_change(task.status, fields["status"], EventKind.STATUS_CHANGED, now)
        values |= status
        events.append(event)
    task = save(task, values, events, now, tags=tags)
    db.session.commit()
    return task


def complete_task(owner: Owner, task_id: int) -> TaskRecord:
    """Idempotent: completing a completed task changes nothing. Commits."""
    task = _task_for_change(owner, task_id)
    if task.status != TaskStatus.COMPLETED:
        task = save_status(task, TaskStatus.COMPLETED, EventKind.COMPLETED)
    db.session.commit()
    return task


def reopen_task(owner: Owner, task_id: int) -> TaskRecord:
    """A completed or failed task goes back to pending; any other is left as it is. Commits."""
    task = _task_for_change(owner, task_id)
    if task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
        task = save_status(task, TaskStatus.PENDING, EventKind.REOPENED)
    db.session.commit()
    return task


def complete_tasks(owner: Owner, task_ids: Sequence[int]) -> int:
    """Completes each of these tasks that is live and not completed yet, in one commit;
    returns how many changed. Ids that are not the owner's live tasks are skipped."""
    tasks = [task for task in lock_live(owner, task_ids) if task.status != TaskStatus.COMPLETED]
    now = utcnow()
    values: dict[str, Any] = {}  # the same for every task: only the events' "from" differ
    logged = []
    for task in tasks:
        values, event = status_change(task.status, TaskStatus.COMPLETED, EventKind.COMPLETED, now)
        logged.append((task.id, event))
    save_many(tasks, values, logged, now)
    db.session.commit()
    return len(tasks)


def delete_tasks(owner: Owner, task_ids: Sequence[int]) -> int:
    """Moves each of these live tasks to the trash, in one commit; returns how many."""
    tasks = lock_live(owner, task_ids)
    _trash(tasks)
    db.session.commit()
    return len(tasks)


def delete_task(owner: Owner, task_id: int) -> None:
    """Moves the task to the trash (idempotent). Commits."""
    task = lock(owner, task_id)
    if task.deleted_at is None:
        _trash([task])
        db.session.commit()


def _trash(tasks: Sequence[TaskRecord]) -> None:
    """A task in the trash is not processed: its queued or running job is cancelled."""
    cancel_active_jobs(tasks, "Processing cancelled: the task was moved to the trash.")
    now = utcnow()
    deleted: Event = (EventKind.DELETED, "Moved to the trash.", {})
    save_many(
        tasks, {"deleted_at": now, "updated_at": now}, [(task.id, deleted) for task in tasks], now
    )


def restore_task(owner: Owner, task_id: int) -> TaskRecord:
    """Takes the task out of the trash (idempotent). Commits."""
    task = lock(owner, task_id)
    if task.deleted_at is not None:
        now = utcnow()
        restored: Event = (EventKind.RESTORED, "Restored from the trash.", {})
        task = save(task, {"deleted_at": None, "updated_at": now}, [restored], now)
    db.session.commit()
    return task


# --- helpers -----------------------------------------------------------------------------


def _task_for_change(
    owner: Owner, task_id: int, if_match: Sequence[int] | None = None
) -> TaskRecord:
    """The task locked for update; 412 if `if_match` names other versions, 409 if in the trash."""
    task = lock(owner, task_id)
    if if_match is not None and task.version not in if_match:
        raise StaleVersion(task.version)
    if task.deleted_at is not None:
        raise TaskInTrash()
    return task


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
