"""Task use cases. Each loads its input through the schema, changes the task, appends the
task's events and commits once; only the owner ever reaches a task."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
)

from tasktracker.database import Prepared
from tasktracker.errors import StaleVersion, TaskInTrash
from tasktracker.extensions import db
from tasktracker.models import (
    EventKind,
    Owner,
    Tag,
    Task,
    TaskCount,
    TaskEvent,
    TaskStatus,
    task_tags,
    utcnow,
)
from tasktracker.pagination import (
    Page,
    SortKey,
    Total,
    first_page,
    ordered,
    page_of,
    paginate_rows,
    window,
)
from tasktracker.schemas import (
    PaginationQuerySchema,
    TaskBulkWriteSchema,
    TaskListQuerySchema,
    TaskPatchSchema,
    TaskSchema,
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
    record,
    select_records,
    written_record,
)
from tasktracker.services.task_tags import attach_tags

# A filtered list's total counts at most this many matches (docs/api.md, "Totals").
COUNT_LIMIT = 1_000
# A list asking nothing but these has its total in the owner's counters (TaskCount).
_COUNTER_PARAMS = frozenset(
    {"status", "completed", "deleted", "sort", "page", "per_page", "offset", "cursor"}
)
# The tables under the mapped classes, for Core statements: a statement of ORM attributes
# goes through the ORM's compilation on every execution.
_TASKS, _TAGS, _COUNTS = Task.__table__, Tag.__table__, TaskCount.__table__
_SORT_COLUMNS = {
    name: _TASKS.c[name]
    for name in ("created_at", "updated_at", "due_at", "priority", "title", "status", "id")
}


# Schemas built once: loading does not change a schema, and building one costs more than
# using it.
_LIST_QUERY = TaskListQuerySchema()
_PAGE_QUERY = PaginationQuerySchema()
_WRITE = TaskWriteSchema()
_BULK_WRITE = TaskBulkWriteSchema()
_TASK = TaskSchema()
_PATCH = TaskPatchSchema(partial=True)

# --- reading -----------------------------------------------------------------------------


def list_tasks(owner: Owner, args: Mapping[str, Any]) -> Page[TaskRecord]:
    """One page of the owner's tasks filtered and sorted as the query asks (SPEC §4)."""
    params = load_query(_LIST_QUERY, args)
    filters, order = _Filters.of(params), tuple(_order(params["sort"]))
    keys = _sort_keys(order)
    where = window(keys, params)
    values = filters.values(owner, params)
    if filters.tags:
        # The tags' ids first, so that the planner sees them: a tag on many of the owner's
        # tasks is found by walking the list's index, a rare one by its task links.
        tag_ids = _tag_ids_statement(filters.tags).all(values)
        if len(tag_ids) < filters.tags:  # a tag the owner does not have: nothing matches
            return page_of([], keys, where, Total(0))
        values |= {f"tag_id_{index}": tag_id for index, tag_id in enumerate(tag_ids)}
    items = _page_statement(filters, order, where.by_cursor).all(values | where.values())
    return page_of(items, keys, where, _total(owner, params, filters, values))


# The owner's counters, all of them (at most eight rows): the total adds up those the
# list's view covers. One statement whatever the view, compiled once.
_COUNTERS = Prepared(
    select(_COUNTS.c.status, _COUNTS.c.in_trash, _COUNTS.c.tasks).where(
        _COUNTS.c.owner_id == bindparam("owner_id")
    ),
    lambda *counter: counter,
)
_IN_TRASH = {"exclude": (False,), "only": (True,), "include": (False, True)}


def _total(
    owner: Owner, params: Mapping[str, Any], filters: _Filters, values: dict[str, Any]
) -> Total:
    """A list's total. Filtered by status and the trash alone (every view of the pages,
    the default list among them), it is exact and read from the owner's counters (at most
    eight rows), whatever the account's size. Any other filter is counted up to
    COUNT_LIMIT matches, past which the total is a lower bound (`exact` false)."""
    if params.keys() <= _COUNTER_PARAMS:
        statuses = set(params.get("status", [status.value for status in TaskStatus]))
        if "completed" in params:
            done = {TaskStatus.COMPLETED.value}
            statuses = statuses & done if params["completed"] else statuses - done
        in_trash = _IN_TRASH[params["deleted"]]
        counters = _COUNTERS.all({"owner_id": owner.id})
        return Total(
            sum(
                tasks
                for status, trashed, tasks in counters
                if status in statuses and trashed in in_trash
            )
        )
    (found,) = _count_statement(filters).all(values)
    return Total(min(found, COUNT_LIMIT), exact=found <= COUNT_LIMIT)


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


def tag_counts(owner: Owner) -> list[dict[str, Any]]:
    """Each of the owner's tags with how many live tasks carry it, by name."""
    rows = db.session.execute(
        select(Tag.name, func.count(Task.id))
        .join(task_tags, task_tags.c.tag_id == Tag.id)
        .join(Task, and_(Task.id == task_tags.c.task_id, Task.deleted_at.is_(None)))
        .where(Tag.owner_id == owner.id)
        .group_by(Tag.name)
        .order_by(Tag.name)
    )
    return [{"name": name, "count": count} for name, count in rows]


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
    changes = [
        (task, status_change(task.status, TaskStatus.COMPLETED, EventKind.COMPLETED, now))
        for task in tasks
    ]
    if changes:
        values = changes[0][1][0]  # the same for every task: only the events' "from" differ
        save_many(tasks, values, [(task.id, event) for task, (_, event) in changes], now)
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


# The filters whose value is bound to a list's statement (the others change its SQL).
_BOUND_FILTERS = frozenset(
    {"q", "priority", "priority_min", "priority_max", "due_after", "due_before"}
)


@dataclass(frozen=True)
class _Filters:
    """The WHERE of a list for a kind of query: the filters it has, how many values each
    list filter takes, and the choices that change the SQL itself (the trash, overdue,
    completed). The statements of a kind are built and compiled once (`_page_statement`);
    a query's own values are bound to them (`values`)."""

    deleted: str
    bound: frozenset[str]
    statuses: int | None = None
    tags: int = 0
    overdue: bool | None = None
    completed: bool | None = None

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> _Filters:
        return cls(
            deleted=params["deleted"],
            bound=_BOUND_FILTERS.intersection(params),
            statuses=len(params["status"]) if "status" in params else None,
            tags=len(set(params.get("tag", ()))),
            overdue=params.get("overdue"),
            completed=params.get("completed"),
        )

    def clauses(self) -> list[ColumnElement[bool]]:
        tasks = _TASKS.c
        # A BIGINT, not an INTEGER, parameter: the owner's trigram indexes can use only that.
        owner_id = cast(bindparam("owner_id"), BigInteger)
        where: list[ColumnElement[bool]] = [tasks.owner_id == owner_id]
        if self.deleted == "exclude":
            where.append(tasks.deleted_at.is_(None))
        elif self.deleted == "only":
            where.append(tasks.deleted_at.is_not(None))
        if "q" in self.bound:
            pattern = bindparam("q", type_=String())
            where.append(
                or_(
                    tasks.title.ilike(pattern, escape="\\"),
                    tasks.description.ilike(pattern, escape="\\"),
                )
            )
        if self.statuses is not None:
            statuses = [bindparam(f"status_in_{index}") for index in range(self.statuses)]
            where.append(tasks.status.in_(statuses))
        if "priority" in self.bound:
            where.append(tasks.priority == bindparam("priority"))
        if "priority_min" in self.bound:
            where.append(tasks.priority >= bindparam("priority_min"))
        if "priority_max" in self.bound:
            where.append(tasks.priority <= bindparam("priority_max"))
        for index in range(self.tags):
            where.append(
                exists().where(
                    task_tags.c.task_id == tasks.id,
                    task_tags.c.tag_id == bindparam(f"tag_id_{index}"),
                )
            )
        if "due_after" in self.bound:
            where.append(tasks.due_at >= bindparam("due_after"))
        if "due_before" in self.bound:
            where.append(tasks.due_at < bindparam("due_before"))
        if self.overdue is not None:
            now = bindparam("now", type_=tasks.due_at.type)
            overdue = and_(tasks.due_at < now, tasks.status != TaskStatus.COMPLETED)
            where.append(overdue if self.overdue else ~overdue | tasks.due_at.is_(None))
        if self.completed is not None:
            done = tasks.status == TaskStatus.COMPLETED
            where.append(done if self.completed else ~done)
        return where

    def values(self, owner: Owner, params: Mapping[str, Any]) -> dict[str, Any]:
        """The query's values, by the names `clauses` binds them to."""
        values = {"owner_id": owner.id} | {name: params[name] for name in self.bound}
        if "q" in self.bound:
            values["q"] = "%" + re.sub(r"([\\%_])", r"\\\1", params["q"]) + "%"
        values.update((f"status_in_{i}", value) for i, value in enumerate(params.get("status", ())))
        values.update(
            (f"tag_{i}", name) for i, name in enumerate(sorted(set(params.get("tag", ()))))
        )
        if self.overdue is not None:
            values["now"] = utcnow()
        return values


@functools.lru_cache(maxsize=1024)
def _page_statement(
    filters: _Filters, order: tuple[tuple[str, bool], ...], by_cursor: bool
) -> Prepared[TaskRecord]:
    """A page of the lists of this kind, in this order, by offset or by cursor."""
    page = ordered(select_records(*filters.clauses()), _sort_keys(order), by_cursor=by_cursor)
    return Prepared(page, lambda *row: record(row))


@functools.lru_cache(maxsize=64)
def _tag_ids_statement(count: int) -> Prepared[int]:
    """The ids of the owner's tags named `tag_0` ... (as many as `count`)."""
    names = [bindparam(f"tag_{index}") for index in range(count)]
    owner_id = bindparam("owner_id")
    tags = select(_TAGS.c.id).where(_TAGS.c.owner_id == owner_id, _TAGS.c.name.in_(names))
    return Prepared(tags, lambda tag_id: tag_id)


@functools.lru_cache(maxsize=1024)
def _count_statement(filters: _Filters) -> Prepared[int]:
    """The matches of the lists of this kind, counted up to COUNT_LIMIT + 1."""
    matches = select(_TASKS.c.id).where(*filters.clauses()).limit(COUNT_LIMIT + 1).subquery()
    return Prepared(select(func.count()).select_from(matches), lambda found: found)


def _sort_keys(order: Sequence[tuple[str, bool]]) -> list[SortKey]:
    return [SortKey(_SORT_COLUMNS[key], descending) for key, descending in order]


def _order(sort: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The requested keys, then `id` in the last key's direction, so that one index serves
    a one-key sort in both directions (SPEC §4: id is always the last tie-breaker)."""
    keys = [key for key, _ in sort]
    if "id" in keys:
        return sort[: keys.index("id") + 1]
    return [*sort, ("id", sort[-1][1])]
