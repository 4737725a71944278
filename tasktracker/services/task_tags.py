"""A task's tags as they are written: the owner's tags created when first used, and the
links from tasks to them, in one statement on PostgreSQL whatever their number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from tasktracker.database import Prepared, on_postgresql
from tasktracker.extensions import db
from tasktracker.models import BigId, Owner, Tag, task_tags

_TAGS = Tag.__table__

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
