"""How requests use their database connection: as few round trips as the work needs.

- No ping before each use of a pooled connection. A connection that died while it sat in
  the pool (PostgreSQL restarted) shows itself by the error of the first statement that
  uses it; SQLAlchemy then invalidates it and every connection older than it, and
  `first_statement` runs that statement again, once, on a fresh connection. A request's
  first statement is always safe to run again: nothing has happened in its transaction.
- A request that only reads runs its statements without a transaction (`without_transaction`):
  no BEGIN and no ROLLBACK around them, two round trips saved, and no Session unless it
  needs the ORM. Writes keep their unit of work: BEGIN, the statements, COMMIT.
- A request's session ends without raising (`init_app`): a connection that died once the
  response was decided (PostgreSQL restarted after a commit) cannot turn that response,
  a committed write's success among them, into an error.
- The statements of the frequent requests (the token with its user, a task by id, a page
  of the list and its total, a created task's rows) are `Prepared`: compiled once, run on
  the driver's cursor of the request's connection. SQLAlchemy's execution around a
  statement (its cache key, execution context and result objects) costs more CPU than
  psycopg2 running it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar
from weakref import WeakKeyDictionary

from flask import Flask, g, has_app_context
from sqlalchemy import Connection, Dialect, Engine, Pool, Select, Table, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

from tasktracker.extensions import db

R = TypeVar("R")
T = TypeVar("T")
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Ends each request's session (`end_session`) before Flask-SQLAlchemy's own teardown
    would (teardown functions run last-registered first; call this after `db.init_app`),
    which then finds nothing to do."""
    app.teardown_appcontext(lambda error: end_session())


def end_session() -> None:
    """Ends the request's database work: its reading connection goes back to the pool, and
    the session ends (the rollback of what is left of it). A connection dead by then
    (PostgreSQL restarted) is SQLAlchemy's to invalidate; it is let go and the loss
    logged, never raised into a response already decided."""
    _let_go_of_reading_connection()
    if not _quietly(db.session.remove):
        db.session.registry.clear()


def _let_go_of_reading_connection() -> None:
    reading = g.pop(_READING, None) if has_app_context() else None
    if reading is not None:
        _quietly(reading.close)


def _quietly(end: Callable[[], Any]) -> bool:
    try:
        end()
    except DBAPIError as lost:
        log.warning(
            "the database connection was lost at the end of a request (%s)",
            type(lost.orig).__name__,
        )
        return False
    return True


def first_statement(run: Callable[[], T]) -> T:
    """Runs the request's first statement, again on a fresh connection if the pooled one
    turns out to be dead."""
    try:
        return run()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        _let_go_of_reading_connection()
        db.session.rollback()
        return run()


class _Compiled(NamedTuple):
    sql: str
    constants: dict[str, Any]  # the values written into the statement (`x == 3`)
    binds: dict[str, Callable[[Any], Any]]  # the parameters whose type processes them
    results: list[Callable[[Any], Any] | None]  # by column


class Prepared(Generic[R]):
    """A statement built once, compiled once per database, and run on the driver's
    cursor of the request's connection (`_statement_connection`), with the values of its
    named `bindparam`s. Its parameters and rows go through their types' processing
    (UTCDateTime's); its rows come back as `row_type` (a write's, those of its RETURNING;
    without, none). Where the session's driver is not psycopg2 (SQLite in development),
    SQLAlchemy runs it as it runs any statement.

    An error is SQLAlchemy's to report: a DBAPIError as from any statement, a dead
    connection invalidated with the pool's older ones (so `first_statement` works as well).
    SQLAlchemy's cursor events do not see these statements; PostgreSQL's statement log does
    (tests/test_round_trips.py counts by it)."""

    def __init__(self, statement: Select[Any] | UpdateBase, row_type: Callable[..., R]):
        self.statement = statement
        self.row_type = row_type
        self._compiled: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()

    def all(self, params: dict[str, Any]) -> list[R]:
        connection = _statement_connection()
        if connection.dialect.driver != "psycopg2":
            result = connection.execute(self.statement, params)
            return [self.row_type(*row) for row in result] if result.returns_rows else []
        compiled = self._compiled.get(connection.dialect) or self._compile(connection)
        if compiled.constants:
            params = compiled.constants | params
        if compiled.binds:
            params = {
                name: value if (process := compiled.binds.get(name)) is None else process(value)
                for name, value in params.items()
            }
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall() if cursor.description is not None else []
        except connection.dialect.loaded_dbapi.Error as error:
            # What SQLAlchemy does with an error outside a statement's execution context (a
            # private method, so requirements.txt pins the version; test_round_trips's dead
            # connection test goes through here).
            connection._handle_dbapi_exception(error, compiled.sql, params, cursor, None)
        finally:
            cursor.close()
        row_type, processors = self.row_type, compiled.results
        if not any(processors):
            return [row_type(*row) for row in rows]
        return [
            row_type(
                *(
                    value if process is None else process(value)
                    for process, value in zip(processors, row, strict=True)
                )
            )
            for row in rows
        ]

    def one_or_none(self, params: dict[str, Any]) -> R | None:
        rows = self.all(params)
        return rows[0] if rows else None

    def _compile(self, connection: Connection) -> _Compiled:
        dialect = connection.dialect
        compiled = self.statement.compile(dialect=dialect)
        constants = {
            name: value
            for name, value in compiled.params.items()
            if not compiled.binds[name].required
        }
        binds = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        }
        results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.exported_columns
        ]
        self._compiled[dialect] = _Compiled(str(compiled), constants, binds, results)
        return self._compiled[dialect]


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _own_postgresql_engine() -> Engine | None:
    """The app's engine when it is PostgreSQL's and the session owns its transactions;
    None on SQLite, or when the session is bound to a connection already in a transaction
    (the test suite's), whose transaction must stay as it is."""
    bind = db.engine
    return bind if isinstance(bind, Engine) and bind.dialect.name == "postgresql" else None


def without_transaction() -> None:
    """This request reads (or writes one statement at a time): its statements each run on
    their own (autocommit), and its `Prepared` statements on a pooled connection of the
    request's own, without a Session (the session's bookkeeping around a connection costs
    more than the statements); a session the request does use gets its connection in
    autocommit too (`_session_without_transaction`).

    On PostgreSQL only (SQLite has no round trips to save), and not in an outer
    transaction (see _own_postgresql_engine). psycopg2 then sends no BEGIN, and a
    rollback at the end sends nothing. Autocommit is set on the driver's connection:
    SQLAlchemy's AUTOCOMMIT isolation level would cost a `SET default_transaction_isolation`
    round trip when the pool resets it."""
    if _own_postgresql_engine() is not None:
        setattr(g, _READS, True)


def _reading() -> bool:
    return has_app_context() and g.get(_READS, False)


def _statement_connection() -> Connection:
    """Where a Prepared statement runs: in a request that reads, the request's own
    connection; else the session's (a write sees its own transaction's rows)."""
    if not _reading():
        return db.session.connection()
    reading = g.get(_READING)
    if reading is None:
        reading = db.engine.connect()
        _autocommit(reading)
        setattr(g, _READING, reading)
    return reading


@event.listens_for(Session, "after_begin")
def _session_without_transaction(session: Session, transaction: Any, connection: Any) -> None:
    if _reading() and isinstance(connection, Connection) and connection.engine is db.engine:
        _autocommit(connection)


def _autocommit(connection: Connection) -> None:
    pooled = connection.connection
    pooled.driver_connection.autocommit = True
    pooled.info[_AUTOCOMMIT] = True


_AUTOCOMMIT = "tasktracker.without_transaction"
# On `g`: the request reads (without_transaction), and the connection it reads on.
_READS = "tasktracker_reads"
_READING = "tasktracker_reading_connection"


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
