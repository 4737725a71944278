"""PostgreSQL going away after a write committed: the client gets the success it earned,
never an error for a write that happened (SPEC §6, README "Reliability")."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, Response
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from werkzeug.test import EnvironBuilder

from tasktracker.config import normalise_database_url
from tasktracker.database import first_statement
from tasktracker.extensions import db
from tasktracker.models import Task
from tasktracker.services import accounts
from tests.api.test_errors import assert_error
from tests.conftest import PASSWORD, ApiClient, make_app, scratch_database
from tests.test_web import csrf_token, post


@pytest.fixture(scope="module")
def faults_app(redis_url: str) -> Iterator[Flask]:
    """The app on a database of its own, whose connections a test may end."""
    with scratch_database("faults") as url:
        app = make_app(url, redis_url)
        with app.app_context():
            upgrade()
        yield app
        with app.app_context():
            db.engine.dispose()


def _end_the_apps_connections(app: Flask) -> None:
    """What PostgreSQL going away does to every connection the app holds."""
    engine = create_engine(normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    with engine.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()


@pytest.fixture
def after_the_view(faults_app: Flask) -> Iterator[Callable[[], None]]:
    """Calling it makes the next request's connections end once its view has returned."""
    armed: list[bool] = []

    def end_connections(response: Response) -> Response:
        if armed:
            armed.clear()
            _end_the_apps_connections(faults_app)
        return response

    # after_request functions run last-registered first: this one before the app's own.
    faults_app.after_request_funcs.setdefault(None, []).append(end_connections)
    yield lambda: armed.append(True)
    faults_app.after_request_funcs[None].remove(end_connections)


_counter = iter(range(1_000_000))


@pytest.fixture
def client(faults_app: Flask) -> ApiClient:
    with faults_app.app_context():
        user = accounts.register_user(
            {"email": f"faults{next(_counter)}@example.com", "name": "F", "password": PASSWORD},
            by_operator=True,
        )
        token = accounts.issue_token(user, {}).secret
        identity = {"id": user.id, "email": user.email}
    return ApiClient(faults_app.test_client(), identity, token)


def _count(app: Flask, title: str) -> int:
    with app.app_context():
        # Its connection may be one the test ended: the app's own retry takes a fresh one.
        return first_statement(
            lambda: db.session.scalar(select(func.count()).where(Task.title == title))
        )


@pytest.mark.parametrize(
    ("name", "request_", "status"),
    [
        ("create", lambda c: c.post("/api/tasks", json={"title": "Kept"}), 201),
        ("tags", lambda c: c.post("/api/tasks", json={"title": "Kept", "tags": ["a"]}), 201),
        ("patch", lambda c: c.patch(c.create_task(title="Kept")["url"], json={"priority": 1}), 200),
        ("complete", lambda c: c.post(c.create_task(title="Kept")["url"] + "/complete"), 200),
        ("read", lambda c: c.get(c.create_task(title="Kept")["url"]), 200),
        ("list", lambda c: (c.create_task(title="Kept"), c.get("/api/tasks"))[1], 200),
    ],
)  # fmt: skip
def test_the_database_lost_after_the_view_leaves_the_api_answer_as_it_was(
    faults_app: Flask,
    client: ApiClient,
    after_the_view: Callable[[], None],
    name: str,
    request_: Callable[[Any], Any],
    status: int,
) -> None:
    before = _count(faults_app, "Kept")
    after_the_view()
    response = request_(_Arming(client, after_the_view))
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    assert _count(faults_app, "Kept") == before + 1


class _Arming:
    """The client, arming `after_the_view` only for the request under test (a set-up request
    such as create_task goes through unharmed)."""

    def __init__(self, client: ApiClient, arm: Callable[[], None]) -> None:
        self.client, self.arm = client, arm

    def create_task(self, **fields: Any) -> dict[str, Any]:
        return self.client.create_task(**fields)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.arm()
            return getattr(self.client, method)(*args, **kwargs)

        return call


def test_the_database_lost_after_a_form_commits_still_redirects(
    faults_app: Flask, client: ApiClient, after_the_view: Callable[[], None]
) -> None:
    browser = faults_app.test_client()
    signed_in = post(browser, "/signin", {"email": client.user["email"], "password": PASSWORD})
    assert signed_in.status_code == 303
    form = {"csrf_token": csrf_token(browser, "/tasks/new"), "title": "From a form"}
    after_the_view()
    created = browser.post("/tasks/new", data=form)
    assert created.status_code == 303, created.get_data(as_text=True)
    assert _count(faults_app, "From a form") == 1


@pytest.fixture(scope="module")
def app_without_database(redis_url: str) -> Flask:
    """The app pointed at a PostgreSQL that does not answer (nothing listens on the port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return make_app(f"postgresql://nobody@127.0.0.1:{port}/nothing", redis_url)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/tasks"), ("POST", "/api/tasks"), ("GET", "/api/tasks/1"), ("GET", "/api/me")],
)
def test_the_database_down_is_a_503_for_the_api(
    app_without_database: Flask, method: str, path: str
) -> None:
    response = app_without_database.test_client().open(
        path, method=method, json={"title": "x"} if method == "POST" else None,
        headers={"Authorization": "Bearer some-token"},
    )  # fmt: skip
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_the_database_down_is_a_503_page_for_the_pages(app_without_database: Flask) -> None:
    browser = app_without_database.test_client()
    signin = post(browser, "/signin", {"email": "a@example.com", "password": "x" * 12})
    assert signin.status_code == 503
    assert signin.mimetype == "text/html"
    assert "unavailable" in signin.get_data(as_text=True)
    assert int(signin.headers["Retry-After"]) > 0


@pytest.fixture
def failing_teardown(faults_app: Flask) -> Iterator[None]:
    """A teardown that raises, as nothing of the app's does: an error past Flask's handling."""

    def fail(error: BaseException | None) -> None:
        raise RuntimeError("raised while the request's context ended")

    faults_app.teardown_appcontext_funcs.append(fail)
    yield
    faults_app.teardown_appcontext_funcs.remove(fail)


def _serve(app: Flask, path: str) -> tuple[str, dict[str, str], bytes]:
    """One request through the app's WSGI callable, answered as gunicorn answers: the last
    start_response before the body is sent wins (PEP 3333: with exc_info, a status not yet
    sent is replaced). Werkzeug's and Flask's test clients raise there instead."""
    started: list[tuple[str, dict[str, str]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, dict(headers)))
        return lambda data: None

    body = b"".join(app.wsgi_app(EnvironBuilder(path=path).get_environ(), start_response))
    status, headers = started[-1]
    return status, headers, body


def test_an_error_past_flasks_handling_is_still_answered_in_the_apps_shape(
    faults_app: Flask, failing_teardown: None, caplog: pytest.LogCaptureFixture
) -> None:
    status, headers, body = _serve(faults_app, "/api/me")
    assert status.startswith("500 ")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "error": "Something went wrong on our side; it has been logged.",
        "code": "internal_error",
        "status": 500,
        "request_id": None,
    }
    status, headers, body = _serve(faults_app, "/signin")
    assert status.startswith("500 ")
    assert headers["Content-Type"].startswith("text/html")
    assert b"went wrong on our side" in body
    assert "an error escaped the request's handling" in caplog.text
