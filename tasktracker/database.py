"""How requests use their database connection: as few round trips as the work needs.

- No ping before each use of a pooled connection. A connection that died while it sat in
  the pool (PostgreSQL restarted) shows itself by the error of the first statement that
  uses it; SQLAlchemy then invalidates it and every connection older than it, and
  `first_statement` runs that statement again, once, on a fresh connection. A request's
  first statement is always safe to run again: nothing has happened in its transaction.
- A request that only reads runs its statements without a transaction (`without_transaction`):
  no BEGIN and no ROLLBACK around them, two round trips saved. Writes keep their unit of
  work: BEGIN, the statements, COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Executable, Pool, Result, Table, event, text
from sqlalchemy.exc import DBAPIError

from tasktracker.extensions import db


def first_statement(statement: Executable, params: dict[str, Any] | None = None) -> Result[Any]:
    """Executes the session's first statement, again on a fresh connection if the pooled one
    turns out to be dead."""
    try:
        return db.session.connection().execute(statement, params)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        db.session.rollback()
        return db.session.connection().execute(statement, params)


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _own_postgresql_engine() -> Engine | None:
    """The session's engine when it is PostgreSQL's and the session owns its transactions;
    None on SQLite, or when the session is bound to a connection already in a transaction
    (the test suite's), whose transaction must stay as it is."""
    bind = db.session.get_bind()
    return bind if isinstance(bind, Engine) and bind.dialect.name == "postgresql" else None


def without_transaction() -> None:
    """The session's statements, until it commits or ends, each run on their own (autocommit).

    For requests that read, or write one statement at a time. On PostgreSQL only (SQLite has
    no round trips to save), and not in an outer transaction (see _own_postgresql_engine).
    """
    session = db.session()
    if _own_postgresql_engine() is not None and not session.in_transaction():
        # psycopg2 then sends no BEGIN, and its rollback at the end sends nothing. Set on
        # the driver's connection: SQLAlchemy's AUTOCOMMIT isolation level would cost a
        # `SET default_transaction_isolation` round trip when the pool resets it.
        pooled = session.connection().connection
        pooled.driver_connection.autocommit = True
        pooled.info[_AUTOCOMMIT] = True


_AUTOCOMMIT = "tasktracker.without_transaction"


def vacuum_analyze(tables: Sequence[Table]) -> None:
    """Commits, then fresh planner statistics for the tables, or the planner would judge new
    rows by the old numbers; and on PostgreSQL a fresh visibility map (VACUUM), without
    which count(*) and index-only scans read the table itself. VACUUM runs outside any
    transaction: in an outer transaction (see _own_postgresql_engine) ANALYZE runs alone."""
    db.session.commit()
    engine = _own_postgresql_engine()
    names = ", ".join(table.name for table in tables)
    if engine is None:
        for table in tables:
            db.session.execute(text(f"ANALYZE {table.name}"))
        db.session.commit()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM (ANALYZE) {names}"))


@event.listens_for(Pool, "checkin")
def _back_in_transactions(dbapi_connection: Any, connection_record: Any) -> None:
    """A connection goes back to the pool as it came: in transactions."""
    if connection_record.info.pop(_AUTOCOMMIT, False) and dbapi_connection is not None:
        dbapi_connection.autocommit = False
