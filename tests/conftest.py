"""Fixtures: one application per database backend, each test isolated.

PostgreSQL: the schema is built once by the migrations, and each test runs inside an outer
transaction that is rolled back (the services' commits become savepoints). SQLite (the
zero-config default, exercised by the API tests too): a migrated file, emptied after each
test. Tests under tests/api run on both; everything else on PostgreSQL only.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import Connection, Engine, Transaction, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from werkzeug.test import TestResponse

from tasktracker import create_app, security
from tasktracker.config import normalise_database_url
from tasktracker.extensions import db as _db
from tasktracker.extensions import init_migrations
from tasktracker.services import accounts
from tests.servers import RedisServer

TESTS = Path(__file__).parent
BACKENDS = ("postgresql", "sqlite")
PRODUCTION_HASHER = security._hasher


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    in_api = Path(metafunc.definition.fspath).is_relative_to(TESTS / "api")
    pg_only = metafunc.definition.get_closest_marker("postgresql_only") is not None
    backends = BACKENDS if in_api and not pg_only else ("postgresql",)
    metafunc.parametrize("backend", backends, indirect=True, scope="session")


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(
            f"{name} is not set: run the tests with `make test` (or tests/run.sh), which "
            "provides PostgreSQL and Redis and sets it.",
            returncode=2,
        )
    return value


@contextlib.contextmanager
def scratch_database(suffix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database next to the test database, named after it (its name
    + `_` + `suffix`, so each run's are its own: tests/services.sh), dropped afterwards;
    yields its URL. (The test role may create databases.)"""
    base = make_url(normalise_database_url(required_env("TEST_DATABASE_URL")))
    name = f"{base.database}_{suffix}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """argon2id at its minimum cost: at the production cost (about 0.3 s a hash here) hashing
    the fixtures' passwords would dominate the suite's time. Tests of the real parameters
    ask for `production_password_hashing`."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_hasher", cheap)
        patch.setattr(security, "_dummy_hash", functools.cache(lambda: cheap.hash("dummy")))
        yield


@pytest.fixture
def production_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", PRODUCTION_HASHER)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = required_env("TEST_REDIS_URL")
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, which it may stop and start."""
    server = RedisServer(tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "postgresql":
        return required_env("TEST_DATABASE_URL")
    return "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "tasktracker.sqlite3")


def make_app(database_url: str, redis_url: str, **overrides: Any) -> Flask:
    """The app for a test, with Flask-Migrate on it (as `flask db` has it) for `upgrade()`."""
    app = create_app(
        {
            "TASKTRACKER_ENV": "testing",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            **overrides,
        }
    )
    init_migrations(app)
    return app


@pytest.fixture(scope="session")
def app(backend: str, database_url: str, redis_url: str) -> Flask:
    """The application, on a database the migrations built from nothing."""
    app = make_app(database_url, redis_url)
    with app.app_context():
        if backend == "postgresql":
            with _db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade()
        _db.engine.dispose()
        # The services' commits must become savepoints inside each test's outer transaction.
        _db.session.remove()
        _db.session.configure(join_transaction_mode="create_savepoint")
    return app


def live_connection(engine: Engine) -> tuple[Connection, Transaction]:
    """A pooled connection in an outer transaction, known alive: if PostgreSQL restarted
    since the pool last used it (something else restarted it, between two tests), its first
    statement fails, SQLAlchemy drops the pool's dead connections, and a fresh one is
    taken — as the app's own first statement does (tasktracker.database)."""
    for last_try in (False, True):
        connection = engine.connect()
        outer = connection.begin()
        try:
            connection.exec_driver_sql("SELECT 1")
        except DBAPIError as error:
            connection.close()
            if last_try or not error.connection_invalidated:
                raise
            continue
        return connection, outer
    raise AssertionError("unreachable")


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest) -> Iterator[None]:
    """Roll back (PostgreSQL) or empty (SQLite) the database after every test using the app."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    backend: str = request.getfixturevalue("backend")
    # No app context is held during the test: each request pushes its own, as in production.
    with app.app_context():
        engines = _db.engines
    if backend != "postgresql":
        yield
        with app.app_context(), _db.engine.begin() as connection:
            for table in reversed(_db.metadata.sorted_tables):
                connection.execute(table.delete())
        return
    engine = engines[None]
    connection, outer = live_connection(engine)
    engines[None] = connection  # Flask-SQLAlchemy 3 ignores session.bind: swap the engine
    try:
        yield
    finally:
        engines[None] = engine
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


# --- factories ---------------------------------------------------------------------------

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


class ApiClient:
    """The test client speaking as one user, with that user's bearer token."""

    def __init__(self, client: FlaskClient, user: dict[str, Any], token: str) -> None:
        self.client = client
        self.user = user
        self.token = token

    def request(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)

    def create_task(self, **fields: Any) -> dict[str, Any]:
        response = self.post("/api/tasks", json={"title": "A task", **fields})
        assert response.status_code == 201, response.json
        return response.json


def basic_auth(email: str, password: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


@pytest.fixture
def make_user(app: Flask) -> Any:
    """make_user(**fields) -> {"id", "email", "name", "password"}, created through the service."""

    def make(**fields: Any) -> dict[str, Any]:
        data = {"email": f"user{next(_counter)}@example.com", "name": "Test User",
                "password": PASSWORD, **fields}  # fmt: skip
        with app.app_context():
            user = accounts.register_user(data, by_operator=True)
            return {"id": user.id, "email": user.email, "name": user.name,
                    "password": data["password"]}  # fmt: skip

    return make


@pytest.fixture
def make_api_client(app: Flask, client: FlaskClient, make_user: Any) -> Any:
    def make(**user_fields: Any) -> ApiClient:
        user = make_user(**user_fields)
        with app.app_context():
            token = accounts.issue_token(accounts.user_by_email(user["email"]), {})
            return ApiClient(client, user, token.secret)

    return make


@pytest.fixture
def alice(make_api_client: Any) -> ApiClient:
    return make_api_client(name="Alice")


@pytest.fixture
def bob(make_api_client: Any) -> ApiClient:
    return make_api_client(name="Bob")
