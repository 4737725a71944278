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
  tag links. The response is built from what was written, not read back;
- `lock_live` and `save_many`: the same change to several tasks, in one UPDATE;
- `change_status`: a status change by the task's id, conditional on the status it is
  expected to have (the job path, which holds no lock on the task).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from tasktracker.database import Prepared
from tasktracker.errors import NotFound
from tasktracker.extensions import db
from tasktracker.models import EventKind, Owner, Task, TaskEvent, TaskStatus, task_tags, utcnow
from tasktracker.services.task_records import NO_SUCH_TASK, TaskRecord, record, select_records
from tasktracker.services.task_tags import attach_tags

Event = tuple[EventKind, str, dict[str, Any]]

_TASKS, _EVENTS = Task.__table__, TaskEvent.__table__
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
_SET_STATUS = (
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("task_id"), _TASKS.c.status == bindparam("previous"))
    .values(
        {name: bindparam(f"b_{name}") for name in STATUS_COLUMNS}
        | {"version": _TASKS.c.version + 1}
    )
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


def change_status(
    task_id: int,
    expected: str,
    status: str,
    now: datetime,
    *,
    kind: EventKind = EventKind.STATUS_CHANGED,
) -> list[Event]:
    """`status_change` by the task's id, in one UPDATE conditional on the status the caller
    expects (the one it read, or `in_progress` while a job runs), so the event's "from" is
    right; if someone changed the status meanwhile, it is read again, locked, and the change
    made from that. Returns the event to log (none if the status is `status` already); no
    commit."""
    previous: str | None = expected
    while previous is not None and previous != status:
        values, event = status_change(previous, status, kind, now)
        params = {f"b_{name}": value for name, value in values.items()}
        changed = db.session.execute(
            _SET_STATUS, {"task_id": task_id, "previous": previous, **params}
        )
        if changed.rowcount == 1:
            return [event]
        previous = db.session.scalar(
            select(_TASKS.c.status).where(_TASKS.c.id == task_id).with_for_update()
        )
    return []


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


def lock(owner: Owner, task_id: int) -> TaskRecord:
    """The owner's task as it is now, its row locked until the commit; 404 for anyone
    else's, as for a missing one."""
    task = _LOCK.one_or_none({"task_id": task_id, "owner_id": owner.id})
    if task is None:
        raise NotFound(NO_SUCH_TASK, code="task_not_found")
    return task


def lock_live(owner: Owner, task_ids: Sequence[int]) -> list[TaskRecord]:
    """Those of these ids that are the owner's tasks out of the trash, locked until the
    commit (in the order of their ids, as every change of several tasks locks them)."""
    statement = (
        select_records(
            _TASKS.c.owner_id == owner.id,
            _TASKS.c.id.in_(task_ids),
            _TASKS.c.deleted_at.is_(None),
        )
        .order_by(_TASKS.c.id)
        .with_for_update(of=_TASKS)
    )
    return [record(row) for row in db.session.execute(statement)]


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


def save_many(
    tasks: Sequence[TaskRecord],
    values: Mapping[str, Any],
    logged: Sequence[tuple[int, Event]],
    now: datetime,
) -> None:
    """Writes the same `values` (of CHANGEABLE) to several tasks read by `lock_live`, in one
    UPDATE (each gains a version), and the events `logged` as (task id, event); no commit."""
    if tasks:
        db.session.execute(
            update(_TASKS)
            .where(_TASKS.c.id.in_([task.id for task in tasks]))
            .values({**values, "version": _TASKS.c.version + 1})
        )
    record_events(logged, now)
