"""Tasks: what a create, an edit, a form and a list query may say, and a task, its log and
its tags as clients see them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    pre_load,
    validates_schema,
)
from marshmallow.validate import Length, OneOf, Range
from webargs.fields import DelimitedList

from tasktracker.models import EventKind, TaskStatus
from tasktracker.schemas.base import InputSchema, PaginationQuerySchema, page_schema, path_for
from tasktracker.schemas.fields import Str, TagName, Timestamp, WholeNumber

MAX_TAGS_PER_TASK = 20
MAX_TASKS_PER_BULK = 1_000
SORT_KEYS = ("created_at", "updated_at", "due_at", "priority", "title", "status", "id")
READ_ONLY_TASK_FIELDS = frozenset(
    {"id", "owner", "owner_id", "version", "completed", "completed_at", "created_at",
     "updated_at", "deleted_at", "url"}
)  # fmt: skip


class TaskWriteSchema(InputSchema):
    """The writable fields of a task: POST and PUT load all of it, PATCH what is sent."""

    title = Str(required=True, validate=Length(1, 200))
    description = Str(
        multiline=True, trim=False, blank=True, validate=Length(max=10_000), load_default=""
    )
    priority = WholeNumber(validate=Range(1, 5), load_default=3)
    status = fields.String(validate=OneOf(list(TaskStatus)), load_default=TaskStatus.PENDING.value)
    due_at = Timestamp(allow_none=True, load_default=None)
    tags = fields.List(TagName(), validate=Length(max=MAX_TAGS_PER_TASK), load_default=list)

    @pre_load
    def reject_read_only(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            sent = sorted(READ_ONLY_TASK_FIELDS & data.keys())
            if sent:
                raise ValidationError({name: ["Read-only field."] for name in sent})
        return data

    @post_load
    def unique_tags(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "tags" in data:
            data["tags"] = sorted(set(data["tags"]))
        return data


class TaskBulkWriteSchema(InputSchema):
    """POST /api/tasks/bulk: 1 to MAX_TASKS_PER_BULK tasks, each loaded by TaskWriteSchema."""

    tasks = fields.List(
        fields.Nested(TaskWriteSchema),
        required=True,
        validate=Length(1, MAX_TASKS_PER_BULK),
        metadata={"description": "Created in this order, all or none"},
    )

    @pre_load
    def at_most_the_limit(self, data: Any, **kwargs: Any) -> Any:
        # Counted before any item is loaded: an oversized request costs no item's validation.
        tasks = data.get("tasks") if isinstance(data, Mapping) else None
        if isinstance(tasks, list) and len(tasks) > MAX_TASKS_PER_BULK:
            raise ValidationError({"tasks": [f"At most {MAX_TASKS_PER_BULK:,} tasks a request."]})
        return data


class TaskPatchSchema(TaskWriteSchema):
    """PATCH: the same fields and rules, each optional and without a default. Use it as
    `TaskPatchSchema(partial=True)`, which the OpenAPI document describes the same way."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        # Each instance binds its own copies of the fields: the write schema keeps its defaults.
        field_obj.load_default = missing


class TaskFormSchema(TaskWriteSchema):
    """The same rules for an HTML form, whose fields all arrive as strings: an empty due date
    is none, the priority a number, tags a comma-separated list. (The form's `due_at` is a
    datetime-local value, taken as UTC like any time without an offset.)"""

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        fields = dict(data)
        if fields.get("due_at") == "":
            fields["due_at"] = None
        if isinstance(fields.get("priority"), str) and fields["priority"].strip().isdigit():
            fields["priority"] = int(fields["priority"])
        if isinstance(fields.get("tags"), str):
            fields["tags"] = [tag for tag in fields["tags"].split(",") if tag.strip()]
        return fields


class TaskSchema(Schema):
    """A task as every client sees it."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    priority = fields.Integer(required=True, metadata={"description": "1 (lowest) to 5 (highest)"})
    status = fields.String(required=True, metadata={"enum": list(TaskStatus)})
    completed = fields.Boolean(required=True)
    completed_at = fields.AwareDateTime(required=True, allow_none=True)
    due_at = fields.AwareDateTime(required=True, allow_none=True)
    tags = fields.List(fields.String(), required=True, attribute="tag_names")
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    deleted_at = fields.AwareDateTime(required=True, allow_none=True)
    version = fields.Integer(required=True)
    url = fields.Function(lambda task: path_for("api.get_task", task_id=task.id), required=True)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written out: a page of tasks is the API's most frequent body, and
        marshmallow's field-by-field dump was most of its cost. Instances limited with
        `only` or `exclude` dump the usual way; tests/api/test_representation.py keeps the
        two equal."""
        if self.only or self.exclude:
            return super().dump(obj, many=many)
        paths = _task_path_prefix()
        if self.many if many is None else many:
            return [_task_fields(task, paths) for task in obj]
        return _task_fields(obj, paths)


def _task_path_prefix() -> str:
    """A task's path but its id (`/api/tasks/`): built once per app, then prefixed to ids."""
    prefix = current_app.extensions.get("tasktracker.task_paths")
    if prefix is None:
        prefix = path_for("api.get_task", task_id=1).removesuffix("1")
        current_app.extensions["tasktracker.task_paths"] = prefix
    return prefix


def _task_fields(task: Any, paths: str) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "description": task.description,
        "priority": task.priority,
        "status": task.status,
        "completed": task.completed,
        "completed_at": _isoformat(task.completed_at),
        "due_at": _isoformat(task.due_at),
        "tags": task.tag_names,
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
        "deleted_at": _isoformat(task.deleted_at),
        "version": task.version,
        "url": paths + str(task.id),
    }


def _isoformat(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class TaskListQuerySchema(PaginationQuerySchema):
    q = Str(validate=Length(1, 200), metadata={"description": "Substring of title or description"})
    status = DelimitedList(
        fields.String(validate=OneOf(list(TaskStatus))), validate=Length(min=1, max=4)
    )
    priority = fields.Integer(validate=Range(1, 5))
    priority_min = fields.Integer(validate=Range(1, 5))
    priority_max = fields.Integer(validate=Range(1, 5))
    tag = fields.List(TagName(), validate=Length(max=MAX_TAGS_PER_TASK),
                      metadata={"description": "Repeatable; every tag must match"})  # fmt: skip
    due_before = Timestamp()
    due_after = Timestamp()
    overdue = fields.Boolean()
    completed = fields.Boolean()
    deleted = fields.String(validate=OneOf(["exclude", "include", "only"]), load_default="exclude")
    sort = DelimitedList(
        fields.String(validate=OneOf([p + key for key in SORT_KEYS for p in ("", "-")])),
        validate=Length(min=1, max=len(SORT_KEYS)),
        load_default=lambda: ["-created_at"],
        metadata={"description": "Keys, each optionally prefixed '-' for descending"},
    )

    @validates_schema
    def consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        keys = [key.lstrip("-") for key in data.get("sort", [])]
        if len(keys) != len(set(keys)):
            raise ValidationError("Each key may appear once.", "sort")
        if data.get("priority_min", 1) > data.get("priority_max", 5):
            raise ValidationError("Must not exceed priority_max.", "priority_min")

    @post_load
    def sort_pairs(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["sort"] = [(key.lstrip("-"), key.startswith("-")) for key in data["sort"]]
        return data


class EventSchema(Schema):
    id = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, metadata={"enum": list(EventKind)})
    message = fields.String(required=True)
    data = fields.Dict(required=True)


class TagCountSchema(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True)


TaskBulkSchema = Schema.from_dict(
    {"items": fields.List(fields.Nested(TaskSchema), required=True)}, name="TaskBulk"
)
TaskPageSchema = page_schema("TaskPage", TaskSchema)
EventPageSchema = page_schema("EventPage", EventSchema)
