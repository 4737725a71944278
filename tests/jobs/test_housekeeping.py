"""What a worker's timer does besides recovering jobs: Idempotency-Keys past their replay
window (IDEMPOTENCY_TTL_HOURS) are deleted, so the table holds about a day of creates, and
so are the browser sessions that ended or outlived SESSION_LIFETIME."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from tasktracker.extensions import db
from tasktracker.models import IdempotencyKey, WebSession, utcnow
from tasktracker.security import token_digest
from tasktracker.services import accounts
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


def test_a_worker_purges_the_sessions_that_ended(
    jobs_app: Flask, owner: ApiClient, start_worker: Any
) -> None:
    with jobs_app.app_context():
        user = accounts.user_by_email(owner.user["email"])
        ended, expired, live = (accounts.start_session(user) for _ in range(3))
        accounts.end_session(ended.session)
        db.session.execute(
            update(WebSession)
            .where(WebSession.digest == token_digest(expired.session))
            .values(created_at=utcnow() - accounts.SESSION_LIFETIME - timedelta(minutes=1))
        )
        db.session.commit()

    def sessions() -> list[str]:
        with jobs_app.app_context():
            return list(db.session.scalars(select(WebSession.digest)))

    start_worker()
    assert wait_for(lambda: sessions() == [token_digest(live.session)], what="the purge")
