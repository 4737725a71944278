"""tasktracker.database.Prepared: the driver's cursor gives what SQLAlchemy's execution gives."""

from __future__ import annotations

from datetime import UTC

import pytest
from flask import Flask
from sqlalchemy.exc import DataError

from tasktracker.extensions import db
from tasktracker.services.task_records import OWN_TASK, record
from tests.conftest import ApiClient


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
