"""`flask --app wsgi bench insert N --mode orm|core|copy|api`: N tasks, with their tags and
`created` events, into a throwaway account, four ways; prints rows per second and checks
that the counts add up."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import click
from flask import current_app
from sqlalchemy import func, select

from tasktracker.bench.group import bench, throwaway_account
from tasktracker.database import on_postgresql
from tasktracker.extensions import db
from tasktracker.http_extensions import limiter
from tasktracker.models import Task, TaskEvent, User, task_tags, utcnow
from tasktracker.schemas import MAX_TASKS_PER_BULK
from tasktracker.services import accounts
from tasktracker.services.seed import BATCH_SIZE, batches, copy_rows, fake_task, next_ids
from tasktracker.services.task_changes import event_row
from tasktracker.services.task_tags import ensure_tags
from tasktracker.services.tasks import create_tasks, created_event, new_task_row

MODES = {
    "orm": "Session.add_all of Task objects (with their events and tags), a commit per batch",
    "core": "the bulk create service (create_tasks: validate, insert, dump), a call per batch",
    "copy": "COPY of the tasks, events and tag links, as the seed does (PostgreSQL only)",
    "api": "POST /api/tasks/bulk through the whole app, in process (test client, no limits)",
}
# Fields as TaskWriteSchema loads them; `core` and `api` send them as JSON.
Fields = dict[str, Any]
Insert = Callable[[User, Sequence[Fields]], None]


@bench.command("insert")
@click.argument("count", type=click.IntRange(1, 10_000_000))
@click.option(
    "--mode",
    type=click.Choice(list(MODES)),
    default="core",
    show_default=True,
    help="; ".join(f"{mode}: {how}" for mode, how in MODES.items()),
)
@click.option("--random-seed", type=int, default=7, show_default=True)
def bench_insert(count: int, mode: str, random_seed: int) -> None:
    """Insert COUNT tasks into a throwaway account (deleted after) and print the rate.

    The tasks are the seed's fake ones (titles, priorities, statuses, due dates, 0–3 tags)
    with what a create writes: the task, its `created` event, its tag links. Batches of
    1 000 (the bulk route's limit), or the seed's for COPY. The counts of tasks, events and
    links before and after, and the account's list total, must add up, or the command fails.
    """
    if mode == "copy" and not on_postgresql():
        raise click.ClickException("--mode copy needs PostgreSQL (COPY).")
    batch = BATCH_SIZE if mode == "copy" else MAX_TASKS_PER_BULK
    rng = random.Random(random_seed)
    with throwaway_account() as user:
        token = accounts.issue_token(user, {"name": "bench"}).secret
        client = current_app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        before = _table_counts()
        inserters: dict[str, Insert] = {
            "orm": _insert_orm,
            "core": _insert_core,
            "copy": _insert_copy,
            "api": lambda owner, fields: _post_bulk(client, headers, fields),
        }
        insert = inserters[mode]
        click.echo(
            f"bench insert: {count:,} tasks, mode {mode} ({MODES[mode]}), batches of "
            f"{batch:,}, on {db.session.get_bind().dialect.name}"
        )
        links = 0
        elapsed = 0.0
        enabled, limiter.enabled = limiter.enabled, False
        try:
            for size in batches(count, batch):
                fields = [_fake_fields(rng) for _ in range(size)]
                links += sum(len(f["tags"]) for f in fields)
                started = time.perf_counter()
                insert(user, fields)
                elapsed += time.perf_counter() - started
                db.session.expunge_all()  # memory stays bounded by the batch
            listed = client.get("/api/tasks?deleted=include&per_page=1", headers=headers)
        finally:
            limiter.enabled = enabled
        after = _table_counts()
        owned = db.session.scalar(select(func.count()).where(Task.owner_id == user.id))
        rows = 2 * count + links
        click.echo(
            f"inserted in {elapsed:.2f} s: {count / elapsed:,.0f} tasks/s, {rows / elapsed:,.0f} "
            f"rows/s ({count:,} tasks + {count:,} events + {links:,} tag links = {rows:,} rows)"
        )
        expected = {"tasks": count, "events": count, "tag links": links}
        added = {name: after[name] - before[name] for name in after}
        total = listed.json["total"] if listed.status_code == 200 else None
        problems = [
            f"{name}: {added[name]:+,} rows, expected {expected[name]:+,}"
            for name in expected
            if added[name] != expected[name]
        ]
        if owned != count:
            problems.append(f"the account owns {owned:,} tasks, expected {count:,}")
        if total != count:
            problems.append(f"GET /api/tasks answers total {total}, expected {count:,}")
        if problems:
            raise click.ClickException("the counts do not add up:\n  " + "\n  ".join(problems))
        click.echo(
            f"counts: tasks {added['tasks']:+,}, events {added['events']:+,}, tag links "
            f"{added['tag links']:+,}, the account's list total {total:,}: as expected"
        )


def _fake_fields(rng: random.Random) -> Fields:
    """One of the seed's fake tasks, as the fields a create takes."""
    row, tags = fake_task(rng, 0, utcnow())
    return {
        "title": row["title"],
        "description": row["description"],
        "priority": row["priority"],
        "status": row["status"],
        "due_at": row["due_at"],
        "tags": sorted(tags),
    }


def _as_json(fields: Fields) -> dict[str, Any]:
    due_at = fields["due_at"]
    return {**fields, "due_at": due_at.isoformat() if due_at else None}


def _table_counts() -> dict[str, int]:
    return {
        name: db.session.scalar(select(func.count()).select_from(table))
        for name, table in (
            ("tasks", Task.__table__),
            ("events", TaskEvent.__table__),
            ("tag links", task_tags),
        )
    }


def _insert_orm(owner: User, batch: Sequence[Fields]) -> None:
    now = utcnow()
    tags = {
        tag.name: tag for tag in ensure_tags(owner, sorted({n for f in batch for n in f["tags"]}))
    }
    tasks = []
    for fields in batch:
        task = Task(**new_task_row(owner, fields, now))
        task.tags = [tags[name] for name in fields["tags"]]
        tasks.append(task)
        kind, message, data = created_event(fields)
        tasks.append(TaskEvent(task=task, at=now, kind=kind, message=message, data=data))
    db.session.add_all(tasks)
    db.session.commit()


def _insert_core(owner: User, batch: Sequence[Fields]) -> None:
    create_tasks(owner, {"tasks": [_as_json(fields) for fields in batch]})


def _insert_copy(owner: User, batch: Sequence[Fields]) -> None:
    now = utcnow()
    tag_ids = {
        tag.name: tag.id
        for tag in ensure_tags(owner, sorted({n for f in batch for n in f["tags"]}))
    }
    ids = next_ids(Task.__table__, len(batch))
    pairs = list(zip(ids, batch, strict=True))
    copy_rows(Task.__table__, [{"id": i, **new_task_row(owner, f, now)} for i, f in pairs])
    copy_rows(TaskEvent.__table__, [event_row(i, created_event(f), now) for i, f in pairs])
    copy_rows(
        task_tags, [{"task_id": i, "tag_id": tag_ids[n]} for i, f in pairs for n in f["tags"]]
    )
    db.session.commit()


def _post_bulk(client: Any, headers: dict[str, str], batch: Sequence[Fields]) -> None:
    response = client.post(
        "/api/tasks/bulk", json={"tasks": [_as_json(f) for f in batch]}, headers=headers
    )
    if response.status_code != 201:
        answer = response.get_data(as_text=True)[:500]
        raise click.ClickException(
            f"POST /api/tasks/bulk answered {response.status_code}: {answer}"
        )
