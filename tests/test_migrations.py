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
from sqlalchemy import inspect

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
    with scratch_database("tasktracker_test_migrations") as url:
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
