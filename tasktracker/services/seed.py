"""Realistic demo data, inserted in bulk: 100 000 tasks take seconds, not minutes.

Events and tag links must point at their tasks, so each batch knows its task ids: on
PostgreSQL they are taken from the sequence and the rows go in with COPY; on SQLite the rows
go in with one executemany and, as SQLite gives a new row max(rowid) + 1 and this
transaction holds the write lock, they are the last `size` ids.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import Table, func, insert, select

from tasktracker.database import on_postgresql, vacuum_analyze
from tasktracker.extensions import db
from tasktracker.models import EventKind, Task, TaskEvent, TaskStatus, User, task_tags, utcnow
from tasktracker.services.task_tags import ensure_tags

BATCH_SIZE = 10_000

_VERBS = [
    "Review",
    "Write",
    "Fix",
    "Plan",
    "Update",
    "Draft",
    "Test",
    "Migrate",
    "Call",
    "Prepare",
    "Refactor",
    "Document",
    "Schedule",
    "Clean up",
    "Investigate",
    "Deploy",
]
_OBJECTS = [
    "the quarterly report",
    "login page styles",
    "invoice export",
    "onboarding docs",
    "database backups",
    "release notes",
    "the Q3 budget",
    "flaky CI job",
    "customer feedback survey",
    "API rate limits",
    "team offsite agenda",
    "dependency upgrades",
    "search indexing",
    "password reset emails",
    "the dentist",
    "monitoring alerts",
    "design review",
    "expense claims",
    "mobile layout",
    "holiday rota",
]
_DETAILS = [
    "",
    "",
    "",
    "Blocked on the vendor's answer.",
    "Ask Sam for the numbers first.",
    "See the notes from Monday's meeting.\nTwo open questions remain.",
    "Needs a second pair of eyes before Friday.",
    "Low effort, high value.",
    "Follow up if no reply by Thursday.",
]
_TAGS = ["work", "home", "urgent", "backend", "frontend", "ops", "finance", "errands",
         "reading", "health", "someday", "waiting"]  # fmt: skip
# Roughly how a real backlog looks: mostly open, a quarter done, a few stuck or failed.
_STATUSES = [
    TaskStatus.PENDING.value,
    TaskStatus.IN_PROGRESS.value,
    TaskStatus.COMPLETED.value,
    TaskStatus.FAILED.value,
]
_STATUS_WEIGHTS = list(accumulate([55, 12, 28, 5]))
_PRIORITIES = [1, 2, 3, 4, 5]
_PRIORITY_WEIGHTS = list(accumulate([10, 20, 40, 20, 10]))
_TAG_COUNTS = [0, 1, 2, 3]
_TAG_COUNT_WEIGHTS = list(accumulate([30, 40, 20, 10]))  # fmt: skip


def seed_tasks(owner: User, count: int, *, seed: int | None = None) -> int:
    """Inserts `count` varied tasks (titles, priorities, statuses, due dates, tags, about
    5 % in the trash), each with its `created` event. Commits per batch; returns the count."""
    rng = random.Random(seed)
    tag_ids = {tag.name: tag.id for tag in ensure_tags(owner, sorted(_TAGS))}
    postgresql = on_postgresql()
    inserted = 0
    for size in batches(count):
        now = utcnow()
        rows, tag_lists = zip(*(fake_task(rng, owner.id, now) for _ in range(size)), strict=True)
        if postgresql:
            ids = next_ids(Task.__table__, size)
            copy_rows(Task.__table__, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
        else:
            db.session.execute(insert(Task.__table__), list(rows))
            last = db.session.scalar(select(func.max(Task.id)))
            ids = list(range(last - size + 1, last + 1))
        events = [
            {"task_id": task_id, "at": row["created_at"], "kind": EventKind.CREATED.value,
             "message": "Created by the seed command.", "data": {"seed": True}}
            for task_id, row in zip(ids, rows, strict=True)
        ]  # fmt: skip
        links = [
            {"task_id": task_id, "tag_id": tag_ids[name]}
            for task_id, names in zip(ids, tag_lists, strict=True)
            for name in names
        ]
        for table, table_rows in ((TaskEvent.__table__, events), (task_tags, links)):
            if postgresql:
                copy_rows(table, table_rows)
            elif table_rows:
                db.session.execute(insert(table), table_rows)
        db.session.commit()
        inserted += size
    vacuum_analyze([Task.__table__, TaskEvent.__table__, task_tags])
    return inserted


def batches(count: int, size: int = BATCH_SIZE) -> Iterator[int]:
    """The sizes of the batches that make up `count`: `size` each, the last one the rest."""
    while count > 0:
        yield min(count, size)
        count -= size


def next_ids(table: Table, count: int) -> list[int]:
    """The next `count` ids of the table's sequence (PostgreSQL), in one round trip."""
    sequence = func.pg_get_serial_sequence(table.name, "id")
    return list(db.session.scalars(select(func.nextval(sequence)).select_from(
        func.generate_series(1, count)
    )))  # fmt: skip


def copy_rows(table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """COPY the rows into the table through the session's connection (same transaction)."""
    if not rows:
        return
    columns = list(rows[0])
    buffer = io.StringIO()
    csv.writer(buffer).writerows([_csv_value(row[column]) for column in columns] for row in rows)
    buffer.seek(0)
    # csv writes "" and None alike (an empty field, NULL to COPY): read required text as "".
    not_null = [c.name for c in table.columns if c.name in columns and not c.nullable]
    options = f"FORMAT csv, FORCE_NOT_NULL ({', '.join(not_null)})"
    cursor = db.session.connection().connection.cursor()
    cursor.copy_expert(
        f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH ({options})", buffer
    )


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def fake_task(rng: random.Random, owner_id: int, now: datetime) -> tuple[dict[str, Any], list[str]]:
    """A varied task as a `tasks` row (every column but `id`) and its tag names."""
    created = now - timedelta(seconds=rng.randint(0, 180 * 86_400))
    updated = min(now, created + timedelta(seconds=rng.randint(0, 20 * 86_400)))
    status = rng.choices(_STATUSES, cum_weights=_STATUS_WEIGHTS)[0]
    due = created + timedelta(days=rng.randint(-5, 60)) if rng.random() < 0.6 else None
    row = {
        "owner_id": owner_id,
        "title": f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}",
        "description": rng.choice(_DETAILS),
        "priority": rng.choices(_PRIORITIES, cum_weights=_PRIORITY_WEIGHTS)[0],
        "status": status,
        "due_at": due,
        "completed_at": updated if status == TaskStatus.COMPLETED else None,
        "created_at": created,
        "updated_at": updated,
        "deleted_at": updated if rng.random() < 0.05 else None,
        "version": 1,
    }
    tag_count = rng.choices(_TAG_COUNTS, cum_weights=_TAG_COUNT_WEIGHTS)[0]
    return row, rng.sample(_TAGS, k=tag_count)
