"""Realistic demo data, inserted in bulk: 100 000 tasks take seconds, not minutes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from tasktracker.extensions import db
from tasktracker.models import EventKind, Task, TaskEvent, TaskStatus, User, task_tags, utcnow
from tasktracker.services.tasks import ensure_tags

BATCH_SIZE = 5_000

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
_TAGS = [
    "work",
    "home",
    "urgent",
    "backend",
    "frontend",
    "ops",
    "finance",
    "errands",
    "reading",
    "health",
    "someday",
    "waiting",
]
# Roughly how a real backlog looks: mostly open, a quarter done, a few stuck or failed.
_STATUSES = [(TaskStatus.PENDING, 55), (TaskStatus.IN_PROGRESS, 12),
             (TaskStatus.COMPLETED, 28), (TaskStatus.FAILED, 5)]  # fmt: skip
_PRIORITIES = [(1, 10), (2, 20), (3, 40), (4, 20), (5, 10)]


def seed_tasks(owner: User, count: int, *, seed: int | None = None) -> int:
    """Inserts `count` varied tasks (titles, priorities, statuses, due dates, tags, about
    5 % in the trash), each with its `created` event. Commits per batch; returns the count."""
    rng = random.Random(seed)
    tags = {tag.name: tag.id for tag in ensure_tags(owner, sorted(_TAGS))}
    tasks = Task.__table__
    inserted = 0
    for batch in _batches(count):
        rows, tag_lists = zip(*(_fake_task(rng, owner.id) for _ in range(batch)), strict=True)
        ids = db.session.scalars(
            insert(tasks).returning(tasks.c.id, sort_by_parameter_order=True), list(rows)
        ).all()
        db.session.execute(
            insert(TaskEvent.__table__),
            [
                {"task_id": task_id, "at": row["created_at"], "kind": EventKind.CREATED.value,
                 "message": "Created by the seed command.", "data": {"seed": True}}
                for task_id, row in zip(ids, rows, strict=True)
            ],
        )  # fmt: skip
        links = [
            {"task_id": task_id, "tag_id": tags[name]}
            for task_id, names in zip(ids, tag_lists, strict=True)
            for name in names
        ]
        if links:
            db.session.execute(insert(task_tags), links)
        db.session.commit()
        inserted += batch
    return inserted


def _batches(count: int) -> Iterator[int]:
    while count > 0:
        yield min(count, BATCH_SIZE)
        count -= BATCH_SIZE


def _weighted(rng: random.Random, choices: list[tuple[Any, int]]) -> Any:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights)[0]


def _fake_task(rng: random.Random, owner_id: int) -> tuple[dict[str, Any], list[str]]:
    now = utcnow()
    created = now - timedelta(seconds=rng.randint(0, 180 * 86_400))
    updated = min(now, created + timedelta(seconds=rng.randint(0, 20 * 86_400)))
    status = _weighted(rng, _STATUSES)
    due = created + timedelta(days=rng.randint(-5, 60)) if rng.random() < 0.6 else None
    row = {
        "owner_id": owner_id,
        "title": f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}",
        "description": rng.choice(_DETAILS),
        "priority": _weighted(rng, _PRIORITIES),
        "status": status.value,
        "due_at": due,
        "completed_at": updated if status == TaskStatus.COMPLETED else None,
        "created_at": created,
        "updated_at": updated,
        "deleted_at": updated if rng.random() < 0.05 else None,
        "version": 1,
    }
    return row, rng.sample(_TAGS, k=_weighted(rng, [(0, 30), (1, 40), (2, 20), (3, 10)]))
