"""Extension objects, created unbound and initialised by the application factory."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask, Request, Response, current_app
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase
from werkzeug.routing import IntegerConverter

if TYPE_CHECKING:
    import fakeredis

# Constraint names are part of the schema: migrations can only drop what they can name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdConverter(IntegerConverter):
    """`<id:...>`: a row id from 1 to 2**63 - 1, so a huge number is a 404, not an overflow.
    ASCII digits only: werkzeug's `\\d+` would take any Unicode digit (fullwidth `１`), which
    int() reads as an id."""

    MAX = 2**63 - 1
    regex = "[0-9]+"

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=self.MAX)


# After a commit, objects keep what was written: a response is built from it, not re-read.
# (A read that must see other transactions' writes asks for populate_existing.)
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def auth_rate_limit(*, methods: list[str] | None = None) -> Any:
    """Sign-in, registration and token creation: RATELIMIT_AUTH per client address (§8)."""
    return limiter.limit(
        lambda: current_app.config["RATELIMIT_AUTH"], key_func=get_remote_address, methods=methods
    )


MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def init_migrations(app: Flask) -> None:
    """Flask-Migrate on this app (once), imported only here: it brings Alembic, which only
    `flask db` and the test suite use, and which would otherwise take a tenth of every web
    worker's memory."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions for the pages. A request for which `sessionless(path)`
    holds (the API's: it never reads sessions) gets Flask's null session, neither read from
    a cookie nor saved (so no `Vary: Cookie` either); nor does a request that carries no
    session cookie build a signer, nor one that never touched its session read the cookie
    settings."""

    def __init__(self, sessionless: Callable[[str], bool]) -> None:
        self.sessionless = sessionless

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.sessionless(request.path):
            return self.make_null_session(app)
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


login_manager = LoginManager()
login_manager.login_view = "web.sign_in"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite enforces foreign keys (and so ON DELETE CASCADE) only when asked, per
    connection; WAL lets the web threads read while a writer commits."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


class RedisClient:
    """The application's Redis connection: REDIS_URL, or with it unset an in-process
    fakeredis server, so the zero-config app needs no Redis."""

    def init_app(self, app: Flask) -> None:
        url = app.config["REDIS_URL"]
        if url:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        else:
            import fakeredis  # only the zero-config app needs it

            client = fakeredis.FakeRedis(server=_in_process_redis())
        app.extensions["redis"] = client

    @property
    def client(self) -> redis.Redis:
        return current_app.extensions["redis"]


@functools.cache
def _in_process_redis() -> fakeredis.FakeServer:
    """The one in-process Redis server, shared by every app of the process."""
    import fakeredis

    return fakeredis.FakeServer()


redis_client = RedisClient()
