"""Round trips to PostgreSQL per API request, counted on the wire (tests/wire.py): every
query the app sends, BEGIN, COMMIT, ROLLBACK and pings included.

The app here runs on a database of its own, as in production: no outer test transaction
hides its BEGINs and COMMITs. Each case runs once to warm up (the pool's first connection,
the token's last-use stamp) and is then counted.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text
from werkzeug.test import TestResponse

from tasktracker.config import normalise_database_url
from tasktracker.extensions import db
from tasktracker.services import accounts
from tests.conftest import basic_auth, make_app, scratch_database
from tests.wire import QueryLog, query_counting_proxy

PASSWORD = "correct horse battery"


@dataclass
class Counted:
    app: Flask
    log: QueryLog
    client: FlaskClient
    token: str
    email: str
    user_id: int
    database_url: str

    def call(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def task(self, **fields: Any) -> dict[str, Any]:
        response = self.call("POST", "/api/tasks", json={"title": "A task", **fields})
        assert response.status_code == 201, response.json
        return response.json

    def count(self, request: Callable[[], TestResponse], status: int) -> list[str]:
        """The queries one request sends (after a first run that warms up)."""
        self.log.clear()
        response = request()
        assert response.status_code == status, response.get_data(as_text=True)
        return self.log.queries


@pytest.fixture(scope="module")
def counted(redis_url: str) -> Iterator[Counted]:
    with scratch_database("round_trips") as url:
        real = make_url(url)
        with query_counting_proxy((real.host or "127.0.0.1", real.port or 5432)) as (port, log):
            proxied = real.set(port=port, query={"sslmode": "disable"})
            app = make_app(proxied.render_as_string(hide_password=False), redis_url)
            with app.app_context():
                upgrade()
                user = accounts.register_user(
                    {"email": "counted@example.com", "name": "Counted", "password": PASSWORD},
                    by_operator=True,
                )
                token = accounts.issue_token(user, {}).secret
                user_id = user.id
                db.session.remove()
            counted = Counted(
                app, log, app.test_client(), token, "counted@example.com", user_id, url
            )
            counted.call("GET", "/api/me")  # the pool's first connection; the last-use stamp
            try:
                yield counted
            finally:
                with app.app_context():
                    db.engine.dispose()


_ids = itertools.count()


def _cases(c: Counted) -> Iterator[tuple[str, int, int, Callable[[], TestResponse]]]:
    """(name, expected status, most round trips, request), each request repeatable.

    The most are what each route costs now: a read is its statements alone (no transaction);
    a write is BEGIN, the token with its user, what the change needs, COMMIT.
    """
    task = c.task(tags=["home", "work"])["id"]
    path = f"/api/tasks/{task}"
    yield "GET /api/tasks/{id}", 200, 2, lambda: c.call("GET", path)
    yield (
        "GET /api/tasks/{id} If-None-Match",
        304,
        2,
        lambda: c.call("GET", path, headers={"If-None-Match": _etag(c, path)}),
    )
    yield "GET /api/tasks", 200, 3, lambda: c.call("GET", "/api/tasks")
    yield (
        "GET /api/tasks filtered",
        200,
        3,
        lambda: c.call("GET", "/api/tasks?status=pending&sort=-priority&q=task"),
    )
    # The tags' ids first, then the page and its count by them.
    yield (
        "GET /api/tasks filtered by tags",
        200,
        4,
        lambda: c.call("GET", "/api/tasks?status=pending&tag=home&tag=work&sort=-priority&q=task"),
    )
    yield "POST /api/tasks", 201, 5, lambda: c.call("POST", "/api/tasks", json={"title": "T"})
    yield (
        "POST /api/tasks with tags",
        201,
        6,
        lambda: c.call("POST", "/api/tasks", json={"title": "T", "tags": ["a", "b", "c"]}),
    )
    # A hundred tasks with tags cost what one does: a statement each for the tasks, their
    # events and their tags, whatever their number.
    yield (
        "POST /api/tasks/bulk 100 tasks with tags",
        201,
        6,
        lambda: c.call(
            "POST",
            "/api/tasks/bulk",
            json={"tasks": [{"title": f"T{n}", "tags": ["a", f"b{n % 7}"]} for n in range(100)]},
        ),
    )
    yield (
        "POST /api/tasks Idempotency-Key",
        201,
        8,
        lambda: c.call(
            "POST",
            "/api/tasks",
            json={"title": "T", "tags": ["a"]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        ),
    )
    yield (
        "PATCH /api/tasks/{id} If-Match",
        200,
        6,
        lambda: c.call(
            "PATCH",
            path,
            json={"priority": next(_ids) % 5 + 1},
            headers={"If-Match": _etag(c, path)},
        ),
    )
    yield (
        "PUT /api/tasks/{id}",
        200,
        6,
        lambda: c.call("PUT", path, json={"title": f"T {next(_ids)}", "tags": ["x"]}),
    )
    yield "POST /api/tasks/{id}/complete", 200, 6, lambda: _toggle(c, path, "complete")
    yield "POST /api/tasks/{id}/reopen", 200, 6, lambda: _toggle(c, path, "reopen")
    yield "DELETE /api/tasks/{id}", 204, 7, lambda: _trash(c)
    yield "POST /api/tasks/{id}/restore", 200, 6, lambda: _restore(c)
    yield "GET /api/tasks/{id}/events", 200, 4, lambda: c.call("GET", path + "/events")
    yield "GET /api/tags", 200, 2, lambda: c.call("GET", "/api/tags")
    yield "POST /api/tasks/{id}/process", 202, 7, lambda: _process(c)
    job_path = _process(c).headers["Location"]
    yield "GET /api/jobs/{id}", 200, 2, lambda: c.call("GET", job_path)
    yield "GET /api/tasks/{id}/jobs", 200, 4, lambda: c.call("GET", path + "/jobs")
    yield "POST /api/jobs/{id}/cancel", 200, 7, lambda: _cancel(c)
    yield "GET /api/me", 200, 1, lambda: c.call("GET", "/api/me")
    yield "GET /api/tokens", 200, 2, lambda: c.call("GET", "/api/tokens")
    yield (
        "POST /api/tokens",
        201,
        4,
        lambda: c.client.post("/api/tokens", json={}, headers=basic_auth(c.email, PASSWORD)),
    )
    yield "DELETE /api/tokens/{id}", 204, 5, lambda: _revoke(c)
    yield (
        "POST /api/users",
        201,
        4,
        lambda: c.client.post(
            "/api/users",
            json={"email": f"u{uuid.uuid4().hex}@example.com", "name": "U", "password": PASSWORD},
        ),
    )


def _etag(c: Counted, path: str) -> str:
    etag = c.call("GET", path).headers["ETag"]
    c.log.clear()
    return etag


def _toggle(c: Counted, path: str, action: str) -> TestResponse:
    other = "reopen" if action == "complete" else "complete"
    c.call("POST", f"{path}/{other}")
    c.log.clear()
    return c.call("POST", f"{path}/{action}")


def _trash(c: Counted) -> TestResponse:
    task = c.task()["id"]
    c.log.clear()
    return c.call("DELETE", f"/api/tasks/{task}")


def _restore(c: Counted) -> TestResponse:
    task = c.task()["id"]
    c.call("DELETE", f"/api/tasks/{task}")
    c.log.clear()
    return c.call("POST", f"/api/tasks/{task}/restore")


def _process(c: Counted) -> TestResponse:
    task = c.task()["id"]
    c.log.clear()
    return c.call("POST", f"/api/tasks/{task}/process")


def _cancel(c: Counted) -> TestResponse:
    job = _process(c).json["id"]
    c.log.clear()
    return c.call("POST", f"/api/jobs/{job}/cancel")


def _revoke(c: Counted) -> TestResponse:
    created = c.client.post("/api/tokens", json={}, headers=basic_auth(c.email, PASSWORD))
    c.log.clear()
    return c.call("DELETE", f"/api/tokens/{created.json['id']}")


def test_every_api_route_within_its_round_trips(counted: Counted) -> None:
    report, over = [], []
    for name, status, most, request in _cases(counted):
        request()  # warm up
        queries = counted.count(request, status)
        report.append(f"{len(queries):3} (most {most})  {name}")
        report.extend(f"      {' '.join(query.split())[:150]}" for query in queries)
        if len(queries) > most:
            over.append(f"{name}: {len(queries)} > {most}:\n    " + "\n    ".join(queries))
    print("\n".join(report))
    assert not over, "\n".join(over)


def _terminate_pooled_connections(c: Counted) -> None:
    """What a PostgreSQL restart does to the app's pooled connections."""
    engine = create_engine(normalise_database_url(c.database_url))
    with engine.connect() as connection:
        ended = connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()
    assert ended >= 1


def test_a_connection_that_died_in_the_pool_fails_no_request(counted: Counted) -> None:
    """No ping before a pooled connection is used: the first statement notices a dead one
    by its error and runs again on a fresh connection, for the API, the pages and /health."""
    task = counted.task()["id"]
    _terminate_pooled_connections(counted)
    assert counted.call("GET", f"/api/tasks/{task}").status_code == 200
    _terminate_pooled_connections(counted)
    assert counted.call("POST", "/api/tasks", json={"title": "After"}).status_code == 201
    _terminate_pooled_connections(counted)
    assert counted.client.get("/health").status_code == 200
    with counted.app.app_context():
        signed_in = accounts.start_session(accounts.user_by_email(counted.email))
        db.session.remove()
    _terminate_pooled_connections(counted)
    with counted.app.app_context():
        page_user = accounts.user_for_session(signed_in.session)
        assert page_user.email == counted.email
        db.session.remove()
