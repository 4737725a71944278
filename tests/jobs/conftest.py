"""Background processing with real parts: PostgreSQL, Redis and `flask worker` processes.

Workers are other processes, so what the tests do must be committed: these tests run on a
scratch database of their own (the test database's name + `_jobs`), emptied before each test, with
Redis flushed. Timings are shortened (lease 2 s, reaper every 0.5 s) so that recovery
happens within seconds; the same settings reach the workers through their environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask_migrate import upgrade

from tasktracker.extensions import db
from tasktracker.services import accounts
from tests.conftest import ApiClient, make_app, scratch_database

ROOT = Path(__file__).resolve().parents[2]
FLASK = ROOT / ".venv" / "bin" / "flask"
PROCESSORS = "tests.jobs.processors"

# Fast enough for tests, in the proportions of the defaults.
SETTINGS: dict[str, Any] = {
    "PROCESS_STEPS": 5,
    "PROCESS_STEP_SECONDS": 0.05,
    "JOB_MAX_ATTEMPTS": 3,
    "JOB_RETRY_BACKOFF_SECONDS": 0.2,
    "JOB_HEARTBEAT_SECONDS": 0.3,
    "JOB_LEASE_SECONDS": 2.0,
    "REAPER_INTERVAL_SECONDS": 0.5,
    "JOB_TIMEOUT_SECONDS": 60,
}
# How long any test waits for an outcome before it fails.
WAIT_SECONDS = 30


@pytest.fixture(scope="session")
def jobs_database() -> Iterator[str]:
    with scratch_database("jobs") as url:
        yield url


@pytest.fixture(scope="session")
def jobs_app(jobs_database: str, redis_url: str) -> Iterator[Flask]:
    app = make_app(jobs_database, redis_url, **SETTINGS)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean(jobs_app: Flask, redis_url: str) -> None:
    """Every test starts from empty tables and an empty Redis."""
    with jobs_app.app_context():
        tables = ", ".join(table.name for table in db.metadata.sorted_tables)
        db.session.execute(db.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture
def redis_conn(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture
def owner(jobs_app: Flask) -> ApiClient:
    with jobs_app.app_context():
        user = accounts.register_user(
            {"email": "worker-tests@example.com", "name": "Owner", "password": "x" * 12},
            by_operator=True,
        )
        token = accounts.issue_token(user, {}).secret
        identity = {"id": user.id, "email": user.email}
    return ApiClient(jobs_app.test_client(), identity, token)


class WorkerProcess:
    """A `flask worker` in its own process group (so that SIGKILL can take it whole)."""

    def __init__(self, log: Path, env: dict[str, str], *options: str) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(FLASK), "--app", "tasktracker:create_worker_app", "worker", *options],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill_everything(self) -> None:
        """SIGKILL the worker, its work horse and its scheduler at once: a machine lost.
        (RQ puts the work horse in a session of its own, out of the worker's group.)"""
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_worker(
    jobs_database: str, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """start_worker(processor="record_steps", fork=False, args=(), **settings) -> a
    WorkerProcess: `flask worker` with `--fork` or `--no-fork`, `args`, and the settings."""
    started: list[WorkerProcess] = []

    def start(
        processor: str = "record_steps",
        fork: bool = False,
        args: tuple[str, ...] = (),
        **settings: Any,
    ) -> WorkerProcess:
        env = {
            **os.environ,
            "TASKTRACKER_ENV": "testing",
            "DATABASE_URL": jobs_database,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test",
            "LOG_LEVEL": "INFO",
            "TASK_PROCESSOR": f"{PROCESSORS}.{processor}",
            **{name: str(value) for name, value in {**SETTINGS, **settings}.items()},
        }
        options = ["--fork" if fork else "--no-fork", *args]
        worker = WorkerProcess(tmp_path / f"worker-{len(started)}.log", env, *options)
        started.append(worker)
        return worker

    yield start
    # Killed, not stopped: a warm shutdown takes RQ about a second a worker (its scheduler
    # process and its pubsub thread wind down), and nothing a test left running is kept
    # (the database and Redis are emptied before the next test). Tests of stopping call
    # `stop()` themselves.
    for worker in started:
        if worker.process.poll() is None:
            worker.kill_everything()


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return [grandchild for child in children for grandchild in _descendants(child)] + children


def wait_for(condition: Callable[[], Any], seconds: float = WAIT_SECONDS, what: str = "") -> Any:
    """Polls until `condition()` is truthy; returns it, or fails the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds} s waiting for {what or condition}")
        time.sleep(0.05)


def job_state(client: ApiClient, job_url: str) -> dict[str, Any]:
    response = client.get(job_url)
    assert response.status_code == 200, response.json
    return response.json


def finished(client: ApiClient, job_url: str) -> dict[str, Any] | None:
    job = job_state(client, job_url)
    return job if job["state"] in ("succeeded", "failed", "cancelled") else None


def events_of(client: ApiClient, task: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url = task["url"] + "/events?per_page=100"
    while url:
        response = client.get(url)
        items += response.json["items"]
        url = _next_link(response.headers.get("Link", ""))
    return items


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        if 'rel="next"' in part:
            return part.split(";")[0].strip()[1:-1]
    return None
