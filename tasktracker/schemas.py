"""marshmallow schemas: the one definition of every input rule and every representation.

Services load input through these (`load_body`, `load_query`); the API dumps with them and
flask-smorest turns them into the OpenAPI document.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from marshmallow import (
    RAISE,
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

from tasktracker.errors import InvalidQuery, ValidationFailed
from tasktracker.models import EventKind, JobState, TaskStatus

# Regular-expression classes, written with escapes that Python's re and ECMAScript (the
# OpenAPI document's patterns) read alike. No text field takes C0 or C1 controls (PostgreSQL
# cannot even store NUL); multi-line text keeps tabs and line breaks.
_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# Lone surrogates (JSON can escape them) cannot be encoded as UTF-8. Checked apart from the
# published pattern, which schemathesis and Hypothesis would ignore if it named them.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = r"\t\n\r"
# White space as ECMAScript's \s has it (Python's \s differs, on U+FEFF for one), and the
# characters that show nothing at all: zero-width spaces and joiners, the soft hyphen,
# direction marks, invisible operators, Hangul fillers. What "blank" means and what
# trimming removes.
_SPACE_CHARS = (
    " \t\n\v\f\r\u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)
_INVISIBLE_CHARS = (
    "\u00ad\u034f\u115f\u1160\u180e\u200b\u200c\u200d\u200e\u200f"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2060, 0x2070)))
    + "\u3164\uffa0"
)
_SPACE_CHARS += _INVISIBLE_CHARS
# Blank is only white space and Unicode's default-ignorable characters (which render as
# nothing). Some of those are not trimmed, as at the end of a text they can belong to what
# is shown: variation selectors (❤ and U+FE0F), and tag characters (the flag of Scotland
# ends with U+E007F).
_KEPT_INVISIBLE_CHARS = (
    "\u061c\u17b4\u17b5\u180b\u180c\u180d\u180f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xFFF0, 0xFFF9)))
)
_BLANK = "".join(f"\\u{ord(c):04x}" for c in _SPACE_CHARS + _KEPT_INVISIBLE_CHARS)
# Default-ignorable characters beyond the Basic Multilingual Plane: checked apart from the
# published pattern, which ECMAScript could read only with its `u` flag.
_BLANK_ASTRAL = re.compile(
    f"[{_BLANK}\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]*"
)

MAX_TAGS_PER_TASK = 20
MAX_TASKS_PER_BULK = 1_000
SORT_KEYS = ("created_at", "updated_at", "due_at", "priority", "title", "status", "id")
READ_ONLY_TASK_FIELDS = frozenset(
    {"id", "owner", "owner_id", "version", "completed", "completed_at", "created_at",
     "updated_at", "deleted_at", "url"}
)  # fmt: skip


class Str(fields.String):
    """Text without control characters (`multiline` keeps tabs and line breaks), not blank
    unless `blank=True`, trimmed of surrounding white space unless `trim=False`.

    The rule is one regular expression, published as the field's `pattern` in the OpenAPI
    document; lengths are checked before trimming, as the document states them.
    """

    def __init__(
        self,
        *,
        trim: bool = True,
        multiline: bool = False,
        blank: bool = False,
        forbid: str = "",
        **kwargs: Any,
    ) -> None:
        controls = _CONTROLS + ("" if multiline else _LINE_BREAKS)
        char = f"[^{controls}{re.escape(forbid)}]"
        pattern = f"{char}*" if blank else f"{char}*[^{_BLANK}{controls}{re.escape(forbid)}]{char}*"
        kwargs.setdefault("metadata", {})["pattern"] = f"^{pattern}$"
        super().__init__(**kwargs)
        self.trim = trim
        self.blank = blank
        self.rule = re.compile(pattern)
        self.controls = re.compile(f"[{controls}]")
        self.forbid = forbid

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _LONE_SURROGATE.search(text):
            raise ValidationError("Must be valid Unicode text.")
        if not self.rule.fullmatch(text):
            if self.controls.search(text):
                raise ValidationError("Must not contain control characters.")
            if self.forbid and any(c in text for c in self.forbid):
                raise ValidationError(f"Must not contain {self.forbid!r}.")
            raise ValidationError("Must not be blank.")
        if not self.blank and _BLANK_ASTRAL.fullmatch(text):
            raise ValidationError("Must not be blank.")
        return text

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        text = super().deserialize(value, attr, data, **kwargs)
        return text.strip(_SPACE_CHARS) if self.trim and isinstance(text, str) else text


class TagName(Str):
    """A tag: 1–50 characters as stored (NFC, lower-case), no commas (forms separate tags
    with them). Tags that look the same are the same tag, whatever the Unicode form they
    were typed in (`café` composed or not); the length is checked again once lower-cased,
    which may lengthen a name (`İ` becomes `i` and a combining dot)."""

    MAX_LENGTH = 50

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=Length(1, self.MAX_LENGTH), forbid=",", **kwargs)

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        name = super().deserialize(value, attr, data, **kwargs)
        if not isinstance(name, str):
            return name
        stored = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).lower())
        if len(stored) > self.MAX_LENGTH:
            raise ValidationError(
                f"Longer than {self.MAX_LENGTH} characters once lower-cased ({len(stored)})."
            )
        return stored


class EmailAddress(fields.Email):
    """An email address, compared case-insensitively: stored trimmed and lower-cased."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)


class WholeNumber(fields.Integer):
    """A JSON integer: `3` or `3.0` (JSON Schema counts both), never `"3"`, `3.5` or `true`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Timestamp(fields.AwareDateTime):
    """An ISO 8601 time, loaded in UTC as the database keeps it (so what a write returns is
    what a read will); one without an offset is taken as UTC. A time that has no UTC
    equivalent within years 1–9999 (`9999-12-31T23:59:59-14:00`) is out of range."""

    default_error_messages = {"range": "Must be between years 1 and 9999 in UTC."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise self.make_error("range") from None


def path_for(endpoint: str, **values: Any) -> str:
    """A resource's path, with or without a request (a service dumps in the CLI and jobs)."""
    adapter = current_app.extensions.get("tasktracker.paths")
    if adapter is None:  # bound once per app: a page of tasks builds a path per task
        adapter = current_app.url_map.bind("", script_name=current_app.config["APPLICATION_ROOT"])
        current_app.extensions["tasktracker.paths"] = adapter
    return adapter.build(endpoint, values)


class InputSchema(Schema):
    """Unknown fields are errors, never silently dropped."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "Unknown field.", "type": "Must be a JSON object."}


# --- tasks -------------------------------------------------------------------------------


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


class PaginationQuerySchema(InputSchema):
    """`page`/`per_page` (or their aliases `skip`/`limit`) or an opaque keyset `cursor`."""

    # One way to say where a page starts: `page`, `skip` or `cursor` (400 for two of them).
    page = fields.Integer(
        validate=Range(min=1, max=1_000_000),
        metadata={"description": "Page number, from 1; not with `skip` or `cursor`"},
    )
    per_page = fields.Integer(
        validate=Range(1, 100), metadata={"description": "Items a page (20); not with `limit`"}
    )
    skip = fields.Integer(
        validate=Range(min=0, max=100_000_000),
        metadata={"description": "Items to skip; not with `page` or `cursor`"},
    )
    limit = fields.Integer(
        validate=Range(1, 100), metadata={"description": "Alias of `per_page`; not with it"}
    )
    cursor = fields.String(
        validate=Length(max=1000),
        metadata={
            "description": "Where the `next` link's page starts (opaque: a cursor not given "
            "by the server is a 400); not with `page` or `skip`"
        },
    )

    @validates_schema
    def one_way_to_page(self, data: dict[str, Any], **kwargs: Any) -> None:
        ways = [name for name in ("page", "skip", "cursor") if name in data]
        if len(ways) > 1:
            raise ValidationError(f"Use only one of {', '.join(ways)}.", ways[-1])
        if "per_page" in data and "limit" in data:
            raise ValidationError("Use per_page or limit, not both.", "limit")

    @post_load
    def window(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        per_page = data.pop("limit", None) or data.get("per_page", 20)
        skip = data.pop("skip", None)
        data["per_page"] = per_page
        data["offset"] = skip if skip is not None else (data.get("page", 1) - 1) * per_page
        data["page"] = data["offset"] // per_page + 1
        return data


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


def _page_schema(name: str, item: type[Schema]) -> type[Schema]:
    return Schema.from_dict(
        {
            "items": fields.Nested(item, many=True, required=True),
            "total": fields.Integer(required=True),
            "total_exact": fields.Boolean(
                required=True,
                metadata={
                    "description": "false when `total` is a lower bound: a list filtered by "
                    "more than status and the trash counts at most 1 000 matches"
                },
            ),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "pages": fields.Integer(required=True),
        },
        name=name,
    )


class EventSchema(Schema):
    id = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, metadata={"enum": list(EventKind)})
    message = fields.String(required=True)
    data = fields.Dict(required=True)


class JobSchema(Schema):
    """A job: one request to process a task."""

    id = fields.UUID(required=True)
    task_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": ["process"]})
    state = fields.String(required=True, metadata={"enum": list(JobState)})
    progress = fields.Integer(required=True, metadata={"description": "0 to 100"})
    attempt = fields.Integer(required=True, metadata={"description": "Attempts started so far"})
    max_attempts = fields.Integer(required=True)
    error = fields.String(
        required=True, allow_none=True, metadata={"description": "The last attempt's error"}
    )
    result = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "When the last attempt began"}
    )
    retry_at = fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "When a retry may begin"}
    )
    finished_at = fields.AwareDateTime(required=True, allow_none=True)
    url = fields.Function(lambda job: path_for("api.get_job", job_id=job.id), required=True)
    task_url = fields.Function(
        lambda job: path_for("api.get_task", task_id=job.task_id), required=True
    )


class TagCountSchema(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True)


TaskBulkSchema = Schema.from_dict(
    {"items": fields.List(fields.Nested(TaskSchema), required=True)}, name="TaskBulk"
)
TaskPageSchema = _page_schema("TaskPage", TaskSchema)
EventPageSchema = _page_schema("EventPage", EventSchema)
JobPageSchema = _page_schema("JobPage", JobSchema)


# --- accounts ----------------------------------------------------------------------------


def _password(**kwargs: Any) -> Str:
    """A password: any characters but control ones, kept exactly as typed."""
    return Str(trim=False, blank=True, required=True, **kwargs)


class RegistrationSchema(InputSchema):
    email = EmailAddress(required=True, validate=Length(max=254))
    password = _password(validate=Length(8, 1024))
    name = Str(required=True, validate=Length(1, 100))


class PasswordResetSchema(InputSchema):
    new_password = _password(validate=Length(8, 1024))


class PasswordChangeSchema(PasswordResetSchema):
    """The account page's form: the current password, and the new one typed twice (there
    is no reset by email, so a typo must not lock its owner out)."""

    current_password = _password(validate=Length(max=1024))
    new_password_again = _password()

    @validates_schema
    def typed_twice(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("new_password") != data.get("new_password_again"):
            raise ValidationError("The two new passwords differ.", "new_password_again")


class UserSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)


class TokenRequestSchema(InputSchema):
    name = Str(validate=Length(1, 100), load_default="API token")
    expires_in_days = WholeNumber(validate=Range(1, 3650), allow_none=True, load_default=None)


class TokenFormSchema(TokenRequestSchema):
    """The same rules for the HTML form: the expiry arrives as a string, empty for never."""

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        fields = dict(data)
        days = fields.get("expires_in_days")
        if days == "":
            fields["expires_in_days"] = None
        elif isinstance(days, str) and days.strip().isdigit():
            fields["expires_in_days"] = int(days)
        if fields.get("name") == "":
            del fields["name"]
        return fields


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(required=True, allow_none=True)
    expires_at = fields.AwareDateTime(required=True, allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(
        required=True, attribute="secret", metadata={"description": "Shown only in this response"}
    )


# --- errors ------------------------------------------------------------------------------


class ErrorSchema(Schema):
    """SPEC §6: the one error shape."""

    error = fields.String(required=True)
    code = fields.String(required=True)
    status = fields.Integer(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    request_id = fields.String(required=True, allow_none=True)


# --- loading -----------------------------------------------------------------------------


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as `{"tags.0": ["..."], "tasks.3.title": ["..."]}`."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            # A nested object's own errors (`_schema`) belong to its path, `tasks.3`.
            name = (prefix.rstrip(".") or "body") if key == "_schema" else f"{prefix}{key}"
            flat.update(_flatten(value, name + "."))
        return flat
    return {prefix.rstrip("."): [str(m) for m in messages]}


def load_body(schema: Schema, data: Any) -> dict[str, Any]:
    """Validate a request body (JSON or form); every failure is a 422 naming the fields."""
    try:
        return schema.load(data)
    except ValidationError as error:
        details = _flatten(error.messages)
        raise ValidationFailed(f"Invalid fields: {', '.join(details)}.", details=details) from None


def load_query(schema: Schema, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate query parameters; every failure is a 400 naming the parameters.

    A parameter given twice is an error unless the schema declares a list (`tag`).
    """
    data: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    getlist = getattr(args, "getlist", lambda key: [args[key]])
    for key in args:
        values = getlist(key)
        field = schema.fields.get(key)
        if isinstance(field, fields.List) and not isinstance(field, DelimitedList):
            data[key] = values
        elif len(values) == 1:
            data[key] = values[0]
        else:
            errors[key] = ["Given more than once."]
    try:
        loaded = schema.load(data)
    except ValidationError as error:
        # Name the parameter itself (`sort`, not `sort.1`): that is what the client wrote.
        for name, messages in _flatten(error.messages).items():
            errors.setdefault(name.split(".")[0], []).extend(messages)
    if errors:
        raise InvalidQuery(f"Invalid query parameters: {', '.join(errors)}.", details=errors)
    return loaded
