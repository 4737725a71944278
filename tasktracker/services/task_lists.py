"""Lists of tasks: a page of the owner's tasks as a query asks (SPEC §4: filters, sorts,
pages by number or by cursor), its total, and the owner's tags with their counts.

A list's statements are built and compiled once per kind of query (which filters it has,
in which order, by offset or by cursor) and its values bound to them, so a list costs
one statement for its page and one for its total (one more to look tags up by name).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    or_,
    select,
)

from tasktracker.database import Prepared
from tasktracker.extensions import db
from tasktracker.models import Owner, Tag, Task, TaskCount, TaskStatus, task_tags, utcnow
from tasktracker.pagination import Page, SortKey, Total, ordered, page_of, window
from tasktracker.schemas import TaskListQuerySchema, load_query
from tasktracker.services.task_records import TaskRecord, record, select_records

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
# Built once: loading does not change a schema, and building one costs more than using it.
_LIST_QUERY = TaskListQuerySchema()


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
