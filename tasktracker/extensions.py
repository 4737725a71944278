"""Extension objects every process uses (the web's and the worker's), created unbound and
initialised by the application factories: the database and Redis. Those only serving HTTP
uses are in http_extensions.py."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase

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


# After a commit, objects keep what was written: a response is built from it, not re-read.
# (A read that must see other transactions' writes asks for populate_existing.)
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def init_migrations(app: Flask) -> None:
    """Flask-Migrate on this app (once), imported only here: it brings Alembic, which only
    `flask db` and the test suite use, and which would otherwise take a tenth of every web
    worker's memory."""
    if "migrate" not in app.extensions:
        # Alembic says which of its plugins it set up, at INFO, on every command.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite enforces foreign keys (and so ON DELETE CASCADE) only when asked, per
    connection; WAL lets the web threads read while a writer commits."""
    # sqlite3 is imported by SQLAlchemy's SQLite dialect, when it is used, not by this app.
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(dbapi_connection, sqlite3.Connection):
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
