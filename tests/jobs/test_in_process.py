"""The zero-config default: with REDIS_URL unset the same code processes tasks on an
in-process Redis and a worker thread, with nothing else installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade

from tasktracker import create_app
from tasktracker.extensions import db, init_migrations
from tasktracker.services import accounts
from tests.conftest import ApiClient
from tests.jobs.conftest import SETTINGS, finished, wait_for


@pytest.fixture
def zero_config_app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TASKTRACKER_ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'zero.sqlite3'}",
            "REDIS_URL": None,
            "RATELIMIT_ENABLED": False,
            # Fails each task's first attempt: the retry's delay runs in process too.
            "TASK_PROCESSOR": "tests.jobs.processors.fail_first_attempts",
            **SETTINGS,
        }
    )
    init_migrations(app)
    with app.app_context():
        upgrade()
    yield app
    app.extensions["tasktracker.in_process_worker"].stop()
    with app.app_context():
        db.engine.dispose()


def test_tasks_are_processed_in_process(zero_config_app: Flask) -> None:
    with zero_config_app.app_context():
        user = accounts.register_user({"email": "z@example.com", "name": "Z", "password": "x" * 12})
        client = ApiClient(zero_config_app.test_client(), {}, accounts.issue_token(user, {}).secret)
    done = []
    for title in ("first 1", "second 1"):
        task = client.create_task(title=title)
        response = client.post(task["url"] + "/process")
        assert response.status_code == 202
        done.append(response.headers["Location"])
    for url in done:
        job: Any = wait_for(lambda u=url: finished(client, u), what="the in-process worker")
        assert (job["state"], job["attempt"], job["progress"]) == ("succeeded", 2, 100)
