"""Tasks as they are read: plain records, loaded by Core statements built once.

Every read of tasks (GET one task, a page of the list, for the API and the pages) is one
statement of the task's columns and, in the same row, its tag names aggregated by a
correlated subquery. No ORM identity map, no joined-eager-load subquery, no `unique()`:
loading ORM objects cost more than running the statements themselves. Changes read and
write records too (services/task_changes.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, ColumnElement, Select, String, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from tasktracker.database import Prepared
from tasktracker.errors import NotFound
from tasktracker.models import Owner, Tag, Task, TaskStatus, task_tags

_TASKS, _TAGS = Task.__table__, Tag.__table__


class TaskRecord(NamedTuple):
    """A task as read, with its tag names sorted by code point (whatever the database's
    collation). It answers what templates and the API's dump ask of a `Task`."""

    id: int
    title: str
    description: str
    priority: int
    status: str
    due_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int
    tag_names: list[str]

    @property
    def completed(self) -> bool:
        return self.status == TaskStatus.COMPLETED


class tag_names_array(GenericFunction[list[str]]):  # noqa: N801 (SQL function naming)
    """The names of a group as a list: `array_agg` on PostgreSQL (psycopg2 reads the array
    natively), `json_group_array` on SQLite. NULL (None) for no rows on PostgreSQL."""

    type = JSON().with_variant(ARRAY(String()), "postgresql")
    inherit_cache = True


@compiles(tag_names_array, "postgresql")
def _array_agg(element: Any, compiler: Any, **kw: Any) -> str:
    return f"array_agg({compiler.process(element.clauses, **kw)})"


@compiles(tag_names_array)
def _json_group_array(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


# Each link's tag name by the tag's primary key, one lookup a link: joined instead, the
# planner may merge the task's few links with the tags' primary key index read from the
# start, which for an account whose tags are among the newest of the service reads every
# older account's tags, for every task of a page.
_TAG_NAME = select(_TAGS.c.name).where(_TAGS.c.id == task_tags.c.tag_id).scalar_subquery()
_TAG_NAMES = (
    select(tag_names_array(_TAG_NAME)).where(task_tags.c.task_id == _TASKS.c.id).scalar_subquery()
)
_COLUMNS = [_TASKS.c[name] for name in TaskRecord._fields if name != "tag_names"]


def select_records(*where: ColumnElement[bool]) -> Select[Any]:
    """The task records matching `where` (give it Core columns of `tasks`: an ORM attribute
    would send the statement through the ORM's compilation on every execution)."""
    return select(*_COLUMNS, _TAG_NAMES.label("tag_names")).where(*where)


def record(row: Any) -> TaskRecord:
    *columns, names = row
    return TaskRecord(*columns, sorted(names) if names else [])


def written_record(task_id: int, row: Mapping[str, Any], tag_names: Sequence[str]) -> TaskRecord:
    """The record of a task just written: its id, the `tasks` row it was written from (every
    column but `id`) and its tag names, sorted."""
    columns = {name: row[name] for name in TaskRecord._fields[1:-1]}
    return TaskRecord(id=task_id, **columns, tag_names=sorted(tag_names))


# The owner's task, in the trash or not.
OWN_TASK = Prepared(
    select_records(_TASKS.c.id == bindparam("task_id"), _TASKS.c.owner_id == bindparam("owner_id")),
    lambda *row: record(row),
)
NO_SUCH_TASK = "No such task."


def get_task(owner: Owner, task_id: int) -> TaskRecord:
    """The owner's task, in the trash or not; 404 for anyone else's, as for a missing one."""
    task = OWN_TASK.one_or_none({"task_id": task_id, "owner_id": owner.id})
    if task is None:
        raise NotFound(NO_SUCH_TASK, code="task_not_found")
    return task
