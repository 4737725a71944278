"""The migrations: one head; from an empty database they build exactly what the models
describe (autogenerate finds nothing to do), on PostgreSQL and SQLite; they go down again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect, text

from tasktracker.extensions import db
from tests.conftest import make_app, scratch_database

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def test_one_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database_app(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str
) -> Iterator[Flask]:
    """An app on a database with nothing in it."""
    if request.param == "sqlite":
        yield make_app(f"sqlite:///{tmp_path / 'empty.sqlite3'}", redis_url)
        return
    with scratch_database("migrations") as url:
        app = make_app(url, redis_url)
        yield app
        with app.app_context():
            db.engine.dispose()


def test_migrations_build_what_the_models_describe(empty_database_app: Flask) -> None:
    with empty_database_app.app_context():
        assert _tables() == set()
        upgrade()
        assert _tables() == set(db.metadata.tables) | {"alembic_version"}
        check()  # autogenerate against the models: exits non-zero if anything differs

        downgrade(revision="base")
        assert _tables() == {"alembic_version"}
        upgrade()
        assert _tables() == set(db.metadata.tables) | {"alembic_version"}
        db.engine.dispose()


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_tags_that_differ_only_in_unicode_form_are_merged(empty_database_app: Flask) -> None:
    """0008: `café` composed and decomposed (two tags before the stored form was NFC) become
    the one composed tag, with every task of either; other accounts' tags are untouched."""
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    with empty_database_app.app_context():
        upgrade(revision="0007_web_sessions")
        connection = db.session.connection()
        for user_id in (1, 2):
            connection.execute(
                text("INSERT INTO users (id, email, name, password_hash)"
                     " VALUES (:id, :email, 'U', '!')"),
                {"id": user_id, "email": f"u{user_id}@example.com"},
            )  # fmt: skip
        rows = [(1, 1, composed), (2, 1, decomposed), (3, 1, "Other"), (4, 2, decomposed)]
        for tag_id, owner_id, name in rows:
            connection.execute(
                text("INSERT INTO tags (id, owner_id, name) VALUES (:id, :owner, :name)"),
                {"id": tag_id, "owner": owner_id, "name": name},
            )
        for task_id, owner_id in ((10, 1), (11, 1), (12, 2)):
            connection.execute(
                text("INSERT INTO tasks (id, owner_id, title, description, priority, status,"
                     " created_at, updated_at, version) VALUES (:id, :owner, 't', '', 3,"
                     " 'pending', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"),
                {"id": task_id, "owner": owner_id},
            )  # fmt: skip
        for task_id, tag_id in ((10, 1), (10, 2), (11, 2), (12, 4)):
            connection.execute(
                text("INSERT INTO task_tags (task_id, tag_id) VALUES (:task, :tag)"),
                {"task": task_id, "tag": tag_id},
            )
        db.session.commit()

        upgrade()
        connection = db.session.connection()
        assert sorted(connection.execute(text("SELECT id, owner_id, name FROM tags"))) == [
            (1, 1, composed), (3, 1, "other"), (4, 2, composed)
        ]  # fmt: skip
        assert sorted(connection.execute(text("SELECT task_id, tag_id FROM task_tags"))) == [
            (10, 1), (11, 1), (12, 4)
        ]  # fmt: skip
        db.session.remove()
        db.engine.dispose()
