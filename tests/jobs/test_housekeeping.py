"""What a worker's timer does besides recovering jobs: Idempotency-Keys past their replay
window (IDEMPOTENCY_TTL_HOURS) are deleted, so the table holds about a day of creates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from tasktracker.extensions import db
from tasktracker.models import IdempotencyKey, utcnow
from tests.conftest import ApiClient
from tests.jobs.conftest import wait_for


def test_a_worker_purges_the_keys_past_their_window(
    jobs_app: Flask, owner: ApiClient, start_worker: Any
) -> None:
    for key in ("old", "recent"):
        created = owner.post("/api/tasks", json={"title": key}, headers={"Idempotency-Key": key})
        assert created.status_code == 201
    with jobs_app.app_context():
        db.session.execute(
            IdempotencyKey.__table__.update()
            .where(IdempotencyKey.key == "old")
            .values(created_at=utcnow() - timedelta(hours=24, minutes=1))
        )
        db.session.commit()

    def keys() -> list[str]:
        with jobs_app.app_context():
            return sorted(db.session.scalars(select(IdempotencyKey.key)))

    start_worker()
    assert wait_for(lambda: keys() == ["recent"], what="the purge")
