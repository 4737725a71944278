"""A list's `total`: from the owner's counters (kept by triggers) for the views filtered by
status and the trash alone, exact whatever changed the tasks; counted up to a limit for any
other filter, and then marked as a lower bound."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tasktracker.extensions import db
from tasktracker.models import Task, TaskCount, TaskStatus, User
from tasktracker.services import task_lists
from tasktracker.services import tasks as task_service
from tasktracker.services.seed import seed_tasks
from tests.conftest import ApiClient

STATUSES = [status.value for status in TaskStatus]
# Every view the counters answer: the trash or not, with or without a status or completed.
VIEWS = [
    {"deleted": deleted, **extra}
    for deleted in ("exclude", "only", "include")
    for extra in (
        {},
        {"status": "pending"},
        {"status": "pending,in_progress"},
        {"status": "completed,failed"},
        {"completed": "true"},
        {"completed": "false"},
        {"status": "completed", "completed": "false"},
    )
]


def counted_directly(app: Flask, owner_id: int, view: dict[str, str]) -> int:
    """count(*) over the tasks themselves, for comparison."""
    statuses = set(view.get("status", ",".join(STATUSES)).split(","))
    if "completed" in view:
        done = {"completed"}
        statuses = statuses & done if view["completed"] == "true" else statuses - done
    where = [Task.owner_id == owner_id, Task.status.in_(sorted(statuses))]
    if view["deleted"] == "exclude":
        where.append(Task.deleted_at.is_(None))
    elif view["deleted"] == "only":
        where.append(Task.deleted_at.is_not(None))
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Task).where(*where))


def assert_totals_match(app: Flask, client: ApiClient) -> None:
    for view in VIEWS:
        body = client.get("/api/tasks", query_string=view).json
        assert body["total_exact"] is True, view
        assert body["total"] == counted_directly(app, client.user["id"], view), view


def test_totals_follow_every_change(app: Flask, alice: ApiClient, bob: ApiClient) -> None:
    rng = random.Random(3)
    ids: list[int] = []
    for step in range(60):
        action = rng.choice(["create", "create", "complete", "reopen", "trash", "restore",
                             "status", "patch", "process"])  # fmt: skip
        if action == "create" or not ids:
            status = rng.choice(STATUSES)
            ids.append(alice.create_task(title=f"T{step}", status=status)["id"])
            bob.create_task(title=f"B{step}")  # another owner's counters stay apart
        elif action in ("complete", "reopen", "restore"):
            alice.post(f"/api/tasks/{rng.choice(ids)}/{action}")
        elif action == "trash":
            alice.delete(f"/api/tasks/{rng.choice(ids)}")
        elif action == "status":
            alice.patch(f"/api/tasks/{rng.choice(ids)}", json={"status": rng.choice(STATUSES)})
        elif action == "patch":
            alice.patch(f"/api/tasks/{rng.choice(ids)}", json={"title": f"P{step}"})
        else:
            alice.post(f"/api/tasks/{rng.choice(ids)}/process")
        if step % 10 == 9:
            assert_totals_match(app, alice)
            assert_totals_match(app, bob)
    with app.app_context():
        owner = db.session.get(User, alice.user["id"])
        task_service.complete_tasks(owner, ids[:5])
        task_service.delete_tasks(owner, ids[5:10])
    assert_totals_match(app, alice)


def test_totals_follow_bulk_inserts_and_deleted_accounts(app: Flask, alice: ApiClient) -> None:
    with app.app_context():
        seed_tasks(db.session.get(User, alice.user["id"]), 700, seed=5)
    assert_totals_match(app, alice)
    assert alice.get("/api/tasks").json["total"] > 600
    with app.app_context():
        db.session.execute(User.__table__.delete().where(User.id == alice.user["id"]))
        db.session.commit()
        left = db.session.scalars(
            select(TaskCount).where(TaskCount.owner_id == alice.user["id"])
        ).all()
    assert left == []


_titles = itertools.count()


def test_other_filters_count_up_to_a_limit(
    alice: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_lists, "COUNT_LIMIT", 5)
    for _ in range(7):
        alice.create_task(title=f"Tagged {next(_titles)}", tags=["many"])
    alice.create_task(title="Other", tags=["few"])

    first = alice.get("/api/tasks?tag=many&per_page=5")
    body: dict[str, Any] = first.json
    assert (body["total"], body["total_exact"], len(body["items"])) == (5, False, 5)
    assert 'rel="last"' not in first.headers["Link"]  # where it ends is not known
    assert 'rel="next"' in first.headers["Link"]
    second = alice.get("/api/tasks?tag=many&per_page=5&page=2").json
    assert len(second["items"]) == 2

    few = alice.get("/api/tasks?tag=few").json
    assert (few["total"], few["total_exact"]) == (1, True)
    # The counters' views stay exact past the limit.
    assert alice.get("/api/tasks").json == {**alice.get("/api/tasks").json, "total_exact": True}
    assert alice.get("/api/tasks?per_page=1").json["total"] == 8
