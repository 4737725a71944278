"""Redis going away degrades the service and loses nothing (SPEC §6, README "Reliability"):
rate limiting falls back to each process's memory, a job requested meanwhile waits in the
database, and once Redis is back a worker runs it, once."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response
from sqlalchemy import select

from tasktracker.extensions import db
from tasktracker.http_extensions import limiter
from tasktracker.models import Job, Task, TaskEvent
from tasktracker.services import accounts
from tests.conftest import ApiClient, make_app
from tests.jobs.conftest import SETTINGS, wait_for
from tests.servers import RedisServer

FALLBACK = "falling back to in-memory storage"


@pytest.fixture
def limited_app(jobs_database: str, own_redis: RedisServer) -> Iterator[Flask]:
    """The app with rate limiting on, its limits and its queue in `own_redis`."""
    app = make_app(
        jobs_database, own_redis.url, RATELIMIT_ENABLED=True, RATELIMIT_API="5 per minute",
        **SETTINGS,
    )  # fmt: skip
    yield app
    with app.app_context():
        db.engine.dispose()


def _client(app: Flask, email: str = "outage@example.com") -> ApiClient:
    with app.app_context():
        user = accounts.register_user(
            {"email": email, "name": "Outage", "password": "x" * 12}, by_operator=True
        )
        token = accounts.issue_token(user, {}).secret
        identity = {"id": user.id, "email": user.email}
    return ApiClient(app.test_client(), identity, token)


def _tasks_titled(app: Flask, title: str) -> int:
    with app.app_context():
        return db.session.query(Task).filter_by(title=title).count()


def test_with_redis_down_requests_are_served_and_a_job_waits_for_it(
    limited_app: Flask,
    own_redis: RedisServer,
    start_worker: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = _client(limited_app)
    own_redis.stop()
    with caplog.at_level(logging.WARNING):
        assert client.get("/api/tasks").status_code == 200
        created = client.post("/api/tasks", json={"title": "Written while Redis is down"})
        assert created.status_code == 201, created.json
        task = created.json
        changed = client.patch(task["url"], json={"priority": 1}, headers={"If-Match": '"1"'})
        assert changed.status_code == 200, changed.json
        processing = client.post(task["url"] + "/process")
        assert processing.status_code == 202, processing.json
        assert processing.json["state"] == "queued"
        assert client.get(task["url"]).status_code == 200
        # Limits hold per process meanwhile: the sixth request of an API limit of 5 a minute.
        limited = client.get("/api/tasks")
        assert limited.status_code == 429, limited.json
        assert limited.json["code"] == "rate_limited"
    health = limited_app.test_client().get("/health")
    assert health.status_code == 503
    assert health.json["checks"]["database"] == "ok"
    assert health.json["checks"]["redis"].startswith("unavailable")
    assert [r.getMessage() for r in caplog.records].count(_fallback_message(caplog)) == 1

    own_redis.start()
    start_worker(REDIS_URL=own_redis.url)
    # Read from the database: this token has spent its requests of the minute.
    job_id = uuid.UUID(processing.json["id"])
    state = wait_for(lambda: _finished(limited_app, job_id), what="the job")
    assert state == ("succeeded", 1)
    with limited_app.app_context():
        kinds = db.session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task["id"]))
        outcomes = Counter(kinds)
    assert (outcomes["job_succeeded"], outcomes["completed"], outcomes["job_failed"]) == (1, 1, 0)
    assert _tasks_titled(limited_app, "Written while Redis is down") == 1


def _finished(app: Flask, job_id: uuid.UUID) -> tuple[str, int] | None:
    with app.app_context():
        job = db.session.get(Job, job_id)
        return (job.state, job.attempt) if job.state in ("succeeded", "failed") else None


def _fallback_message(caplog: pytest.LogCaptureFixture) -> str:
    messages = [r.getMessage() for r in caplog.records if FALLBACK in r.getMessage()]
    assert messages, "the fallback to in-memory limits is not in the log"
    return messages[0]


def test_redis_lost_after_the_commit_leaves_the_write_acknowledged(
    limited_app: Flask, own_redis: RedisServer
) -> None:
    """Redis stops after the view has committed and before the limiter writes its headers:
    the client is told what happened (201), so it does not create the task again."""
    client = _client(limited_app, "late@example.com")

    def stop_redis(response: Response) -> Response:
        own_redis.stop()
        return response

    # after_request functions run last-registered first: this one before the limiter's.
    limited_app.after_request_funcs.setdefault(None, []).append(stop_redis)
    try:
        created = client.post("/api/tasks", json={"title": "Committed, then Redis went"})
    finally:
        limited_app.after_request_funcs[None].remove(stop_redis)
    assert created.status_code == 201, created.json
    assert _tasks_titled(limited_app, "Committed, then Redis went") == 1
    assert limiter.enabled


def test_after_redis_comes_back_the_workers_scheduler_moves_retries_again(
    limited_app: Flask, own_redis: RedisServer, start_worker: Any
) -> None:
    """RQ's scheduler process dies with Redis; the worker starts it again within seconds,
    so a retry (which waits in Redis's schedule) runs at its time, not at the reaper's,
    which this worker runs only every five minutes (the wait below stays well short of it,
    and long enough for a slow machine: it usually takes about 8 s)."""
    client = _client(limited_app, "scheduler@example.com")
    worker = start_worker(
        "fail_first_attempts", REDIS_URL=own_redis.url, REAPER_INTERVAL_SECONDS=300,
        JOB_RETRY_BACKOFF_SECONDS=0.2,
    )  # fmt: skip
    wait_for(lambda: "Scheduler" in worker.output() or "scheduler" in worker.output(),
             what="the worker's scheduler to start")  # fmt: skip
    own_redis.stop()
    time.sleep(2)  # the scheduler process notices and dies
    own_redis.start()
    started = time.monotonic()
    task = client.post("/api/tasks", json={"title": "Fails twice: 2"}).json
    job_id = uuid.UUID(client.post(task["url"] + "/process").json["id"])
    state = wait_for(lambda: _finished(limited_app, job_id), seconds=60, what="the retries")
    assert state == ("succeeded", 3)
    print(f"three attempts, two of them scheduled retries, in {time.monotonic() - started:.1f} s")
