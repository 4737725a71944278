"""How a task changes, in one place: the status rule, the task's log, and the write.

Both the task service (edits, complete, reopen, restore) and the job path (a worker taking
a task, finishing or failing it, a cancel) change tasks through these, so neither can drift
from the other's rules:

- `status_change`: what a change of status sets (`completed_at` with it, `updated_at`) and
  the event that logs it;
- `record_events`: appends to a task's log, in the caller's transaction;
- `lock` and `save`: a change to one task as Core statements built once: the task read and
  locked as a TaskRecord, then one UPDATE of the values that change, RETURNING the new
  version (every change adds one: the task's ETag), its events and, if they change, its
  tag links. The response is built from what was written, not read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from tasktracker.database import Prepared, on_postgresql
from tasktracker.extensions import db
from tasktracker.models import (
    BigId,
    EventKind,
    Owner,
    Tag,
    Task,
    TaskEvent,
    TaskStatus,
    task_tags,
    utcnow,
)
from tasktracker.services.task_records import TaskRecord, record, select_records

Event = tuple[EventKind, str, dict[str, Any]]

_TASKS, _EVENTS, _TAGS = Task.__table__, TaskEvent.__table__, Tag.__table__
# The fields an edit sets, what a change of status sets (status_change), and all the
# columns a change may set.
EDITABLE_FIELDS = ("title", "description", "priority", "due_at")
STATUS_COLUMNS = ("status", "completed_at", "updated_at")
CHANGEABLE = (*EDITABLE_FIELDS, *STATUS_COLUMNS, "deleted_at")
_LOCK = Prepared(
    select_records(
        _TASKS.c.id == bindparam("task_id"), _TASKS.c.owner_id == bindparam("owner_id")
    ).with_for_update(of=_TASKS),
    lambda *row: record(row),
)
# A parameter named like a column the statement sets is reserved to SQLAlchemy: hence the
# `b_` names.
_UPDATE = Prepared(
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("task_id"))
    .values(
        {name: bindparam(f"b_{name}") for name in CHANGEABLE} | {"version": _TASKS.c.version + 1}
    )
    .returning(_TASKS.c.version),
    lambda version: version,
)
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_EVENT = Prepared(
    insert(_EVENTS)
    .values({name: bindparam(name) for name in ("task_id", "at", "kind", "message", "data")})
    .returning(_EVENTS.c.id),
    lambda event_id: event_id,
)
_UNLINK_TAGS = Prepared(
    delete(task_tags).where(task_tags.c.task_id == bindparam("task_id")), lambda: None
)


def status_change(
    previous: str, status: str, kind: EventKind, now: datetime
) -> tuple[dict[str, Any], Event]:
    """The columns a change of status from `previous` sets, and the event that logs it as
    `kind`: a completed task has `completed_at`, any other has none."""
    values = {
        "status": status,
        "completed_at": now if status == TaskStatus.COMPLETED else None,
        "updated_at": now,
    }
    return values, (kind, status_message(kind, previous, status), {"from": previous, "to": status})


def status_message(kind: EventKind, previous: str, status: str) -> str:
    """The log's sentence for a status change, in words ("in progress"); the event's data
    keeps the values themselves."""
    return {
        EventKind.COMPLETED: "Marked completed.",
        EventKind.REOPENED: "Reopened.",
    }.get(kind, f"Status changed from {_words(previous)} to {_words(status)}.")


def save_status(task: TaskRecord, status: str, kind: EventKind) -> TaskRecord:
    """`status_change` on a task read by `lock`, saved and logged; no commit."""
    now = utcnow()
    values, event = status_change(task.status, status, kind, now)
    return save(task, values, [event], now)


def set_status(task: Task, status: str, kind: EventKind) -> None:
    """`status_change` on a mapped Task (the unit of work writes it at the flush), logged
    at once; no commit."""
    now = utcnow()
    values, event = status_change(task.status, status, kind, now)
    for name, value in values.items():
        setattr(task, name, value)
    record_events([(task.id, event)], now)


def _words(status: str) -> str:
    return status.replace("_", " ")


def record_events(logged: Iterable[tuple[int, Event]], now: datetime) -> None:
    """Appends events, given as (task id, event), to their tasks' logs, in the caller's
    transaction (at once: the log is not read back, so it needs no mapped object waiting
    for a flush). One event is a prepared statement; more, one multi-row INSERT."""
    rows = [event_row(task_id, event, now) for task_id, event in logged]
    if len(rows) == 1:
        _INSERT_EVENT.all(rows[0])
    elif rows:
        db.session.connection().execute(_INSERT_EVENTS, rows)


def event_row(task_id: int, event: Event, now: datetime) -> dict[str, Any]:
    """The `task_events` row of an event logged now."""
    kind, message, data = event
    return {"task_id": task_id, "at": now, "kind": kind, "message": message, "data": data}


def lock(owner: Owner, task_id: int) -> TaskRecord | None:
    """The owner's task as it is now, its row locked until the commit; None if there is no
    such task of theirs."""
    return _LOCK.one_or_none({"task_id": task_id, "owner_id": owner.id})


def save(
    task: TaskRecord,
    values: Mapping[str, Any],
    events: Sequence[Event],
    now: datetime,
    *,
    tags: tuple[Owner, Sequence[str]] | None = None,
) -> TaskRecord:
    """Writes a change to a task read by `lock`: its new `values` (of CHANGEABLE), its
    `events`, and with `tags` (the owner and the new names) its tag links; no commit.
    Returns the task as written. Nothing to write, nothing written: the version stays."""
    logged = [(task.id, event) for event in events]
    if not values and tags is None:
        record_events(logged, now)
        return task
    changed = task._replace(**values)
    (version,) = _UPDATE.all(
        {"task_id": task.id, **{f"b_{name}": getattr(changed, name) for name in CHANGEABLE}}
    )
    record_events(logged, now)
    if tags is not None:
        owner, names = tags
        _UNLINK_TAGS.all({"task_id": task.id})
        attach_tags(owner, [(task.id, names)])
        changed = changed._replace(tag_names=sorted(names))
    return changed._replace(version=version)


# --- tags ---------------------------------------------------------------------------------

# Two parameters a tag: within SQLite's limit of 32 766 a statement (since 3.32).
SQLITE_TAGS_PER_STATEMENT = 16_000


def ensure_tags(owner: Owner, names: Sequence[str]) -> list[Tag]:
    """The owner's tags of these names, by name, creating the missing ones: one statement
    (on SQLite one per SQLITE_TAGS_PER_STATEMENT names), safe under concurrency (an existing
    tag is returned, and locked until the commit)."""
    if not names:
        return []
    step = len(names) if on_postgresql() else SQLITE_TAGS_PER_STATEMENT
    chunks = [names[start : start + step] for start in range(0, len(names), step)]
    tags = []
    for chunk in chunks:
        statement, params = _upsert_tags(owner, chunk)
        returning = select(Tag).from_statement(statement.returning(*_TAGS.c))
        tags.extend(db.session.scalars(returning, params))
    return sorted(tags, key=_by_name)


def attach_tags(owner: Owner, tagged: Sequence[tuple[int, Sequence[str]]]) -> None:
    """Links tasks without tag links, given as (task id, tag names), to the owner's tags of
    these names, creating the missing ones.

    On PostgreSQL in one statement of four parameters, whatever the number of tasks and tags
    (the upsert's RETURNING feeds the links' INSERT, the pairs go as two arrays); SQLite has
    no INSERT inside WITH, so there the tags and the links take a statement each.
    """
    pairs = [(task_id, name) for task_id, names in tagged for name in names]
    if not pairs:
        return
    names = sorted({name for _, name in pairs})  # one lock order for concurrent creates
    if on_postgresql():
        _LINK_TAGS.all(
            {
                "owner_id": owner.id,
                "names": names,
                "task_ids": [task_id for task_id, _ in pairs],
                "pair_names": [name for _, name in pairs],
            },
        )
        return
    tag_ids = {tag.name: tag.id for tag in ensure_tags(owner, names)}
    db.session.execute(
        task_tags.insert(),
        [{"task_id": task_id, "tag_id": tag_ids[name]} for task_id, name in pairs],
    )


def _upsert_tags(owner: Owner, names: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The statement (and its parameters) that INSERTs the tags, and on a name the owner
    has already "updates" it to itself: unlike DO NOTHING, RETURNING then gives every tag,
    even one committed concurrently. On PostgreSQL built once, the names one array."""
    if on_postgresql():
        return _UPSERT_TAGS, {"owner_id": owner.id, "names": list(names)}
    statement = sqlite.insert(_TAGS).values(
        [{"owner_id": owner.id, "name": name} for name in names]
    )
    return _on_tag_conflict(statement), {}


def _on_tag_conflict(statement: Any) -> Any:
    return statement.on_conflict_do_update(
        index_elements=[_TAGS.c.owner_id, _TAGS.c.name], set_={"name": statement.excluded.name}
    )


# A Core statement (of the table, not the mapped class): the ORM would take its
# parameters for rows of a bulk INSERT.
_UPSERT_TAGS = _on_tag_conflict(
    postgresql.insert(_TAGS).from_select(
        ["owner_id", "name"],
        select(
            bindparam("owner_id", type_=BigId),
            func.unnest(bindparam("names", type_=ARRAY(String()))),
        ),
    )
)


def _link_tags_statement() -> Any:
    """attach_tags' statement on PostgreSQL, built once: the tags upserted (`owner_id`,
    `names`) in a CTE whose RETURNING feeds the links' INSERT of the pairs (`task_ids`,
    `pair_names`, zipped by unnest)."""
    tag = _UPSERT_TAGS.returning(_TAGS.c.id, _TAGS.c.name).cte("tag")
    pair = (
        func.unnest(
            bindparam("task_ids", type_=ARRAY(BigInteger())),
            bindparam("pair_names", type_=ARRAY(String())),
        )
        .table_valued("task_id", "name")
        .render_derived(name="pair")
    )
    link = task_tags.insert().from_select(
        ["task_id", "tag_id"],
        select(pair.c.task_id, tag.c.id).join(tag, tag.c.name == pair.c.name),
    )
    return select(func.count()).select_from(tag).add_cte(link.cte("link")).add_cte(tag)


_LINK_TAGS = Prepared(_link_tags_statement(), lambda links: links)


def _by_name(tag: Tag) -> str:
    return tag.name
