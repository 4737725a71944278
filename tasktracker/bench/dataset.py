"""The data `flask bench http` measures on: the benchmark account's tasks, the optional big
set of other accounts' tasks around them, and the id files its wrk scripts read."""

from __future__ import annotations

import time
from pathlib import Path

import click
from sqlalchemy import func, insert, select

from tasktracker.extensions import db
from tasktracker.models import Task, TaskStatus, User
from tasktracker.services import accounts
from tasktracker.services.seed import seed_tasks

# The big set: other accounts' tasks in the same tables and indexes, kept for the next run.
BIG_ACCOUNTS = 1_000
BIG_TASKS_PER_ACCOUNT = 1_000
BIG_EMAIL = "bench-big-{:04d}@example.invalid"
BIG_EMAILS = "bench-big-%@example.invalid"
# Created last: the big set is complete exactly when this account exists.
BIG_COMPLETE = "bench-big@example.invalid"
# A password hash that no password matches: these accounts hold data, nobody signs in.
NO_PASSWORD = "!"


def ensure_big_data_set() -> None:
    """Seeds BIG_ACCOUNTS accounts of BIG_TASKS_PER_ACCOUNT tasks unless a complete set is
    there; an incomplete one (an interrupted run's) is dropped first. Commits."""
    if accounts.user_by_email(BIG_COMPLETE) is not None:
        click.echo(f"big data set: reused (the accounts {BIG_EMAILS}, kept between runs)")
        return
    started = time.perf_counter()
    db.session.execute(User.__table__.delete().where(User.email.like(BIG_EMAILS)))
    # Rows rather than registrations: the service would hash a password for each account.
    db.session.execute(
        insert(User),
        [
            {"email": BIG_EMAIL.format(n), "name": "Benchmark data", "password_hash": NO_PASSWORD}
            for n in range(1, BIG_ACCOUNTS + 1)
        ],
    )
    db.session.commit()
    owners = db.session.scalars(
        select(User).where(User.email.like(BIG_EMAILS)).order_by(User.id)
    ).all()
    for n, owner in enumerate(owners, 1):
        seed_tasks(owner, BIG_TASKS_PER_ACCOUNT, seed=n)
        if n % 100 == 0:
            click.echo(f"big data set: {n:,} of {BIG_ACCOUNTS:,} accounts seeded")
    db.session.add(User(email=BIG_COMPLETE, name="Benchmark data", password_hash=NO_PASSWORD))
    db.session.commit()
    click.echo(f"big data set: seeded in {time.perf_counter() - started:,.0f} s")


def write_task_ids(owner: User, path: Path) -> int:
    """Writes the owner's task ids (in the trash or not, as GET serves both), one a line;
    returns how many of them are live."""
    ids = db.session.scalars(select(Task.id).where(Task.owner_id == owner.id)).all()
    live = db.session.scalar(
        select(func.count()).where(Task.owner_id == owner.id, Task.deleted_at.is_(None))
    )
    db.session.rollback()
    path.write_text("".join(f"{task_id}\n" for task_id in ids))
    return live


def sample_task_ids(owner: User) -> list[int]:
    """A task for each part of a representation that can be empty: one with tags and a due
    date, one completed, one in the trash."""
    kinds = [
        Task.tags.any() & Task.due_at.is_not(None) & Task.deleted_at.is_(None),
        (Task.status == TaskStatus.COMPLETED) & Task.deleted_at.is_(None),
        Task.deleted_at.is_not(None),
    ]
    found = [
        db.session.scalar(
            select(Task.id).where(Task.owner_id == owner.id, kind).order_by(Task.id).limit(1)
        )
        for kind in kinds
    ]
    db.session.rollback()
    return [task_id for task_id in found if task_id is not None]


def write_patch_lists(owner: User, threads: int, pattern: str) -> None:
    """One file per wrk thread (`pattern` % 1, 2, ...), disjoint: the owner's live tasks in
    id order as "id version new-priority", the version as it is now and a priority other
    than the task's, so that every PATCH changes its task and none is stale."""
    rows = db.session.execute(
        select(Task.id, Task.version, Task.priority)
        .where(Task.owner_id == owner.id, Task.deleted_at.is_(None))
        .order_by(Task.id)
    ).all()
    db.session.rollback()
    for thread in range(threads):
        lines = [
            f"{i} {version} {priority % 5 + 1}\n" for i, version, priority in rows[thread::threads]
        ]
        Path(pattern % (thread + 1)).write_text("".join(lines))
