"""tasktracker.database.Prepared: the driver's cursor gives what SQLAlchemy's execution gives;
and the suite's own connections outlive a PostgreSQL restart between two tests."""

from __future__ import annotations

from datetime import UTC

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DataError

from tasktracker.config import normalise_database_url
from tasktracker.extensions import db
from tasktracker.services.task_records import OWN_TASK, record
from tests.conftest import ApiClient, live_connection, required_env


def test_a_prepared_read_gives_the_records_sqlalchemy_reads(app: Flask, alice: ApiClient) -> None:
    task = alice.post("/api/tasks", json={"title": "Read", "tags": ["b", "a"],
                                          "due_at": "2030-01-02T03:04:05+02:00"}).json  # fmt: skip
    params = {"task_id": task["id"], "owner_id": alice.user["id"]}
    with app.app_context():
        prepared = OWN_TASK.one_or_none(params)
        by_sqlalchemy = record(db.session.execute(OWN_TASK.statement, params).one())
        assert OWN_TASK.one_or_none({**params, "owner_id": alice.user["id"] + 1}) is None
    assert prepared == by_sqlalchemy
    assert prepared.tag_names == ["a", "b"]
    assert prepared.due_at.tzinfo is UTC
    assert prepared.due_at.hour == 1
    assert prepared.created_at.tzinfo is UTC


def test_a_prepared_read_reports_a_database_error_as_sqlalchemy_does(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(DataError, match="invalid input syntax"):
            OWN_TASK.all({"task_id": "one", "owner_id": 1})
        db.session.rollback()


def test_a_test_after_a_restart_gets_a_live_connection() -> None:
    """What PostgreSQL restarting between two tests does to the pool (its connections'
    backends end), and what the next test's fixture (`live_connection`) makes of it."""
    engine = create_engine(normalise_database_url(required_env("TEST_DATABASE_URL")))
    try:
        with engine.connect() as connection:
            pid = connection.scalar(text("SELECT pg_backend_pid()"))
        with engine.connect() as connection:  # the same pooled connection, killed
            assert connection.scalar(text("SELECT pg_backend_pid()")) == pid
        killer = create_engine(normalise_database_url(required_env("TEST_DATABASE_URL")))
        with killer.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        killer.dispose()
        connection, outer = live_connection(engine)
        assert connection.scalar(text("SELECT pg_backend_pid()")) != pid
        outer.rollback()
        connection.close()
    finally:
        engine.dispose()
