"""The operator commands: create-user, reset-password, seed and db."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tasktracker.extensions import db
from tasktracker.models import Tag, Task, TaskEvent, User, task_tags
from tasktracker.services import accounts
from tests.servers import ROOT, VENV_BIN, app_env


def test_create_user(runner: Any, app: Flask, monkeypatch: Any) -> None:
    monkeypatch.setitem(app.config, "REGISTRATION_OPEN", False)  # operators are not bound by it
    result = runner.invoke(
        args=["create-user", "--email", "Ops@Example.com", "--name", "Ops", "--password", "x" * 12]
    )
    assert result.exit_code == 0, result.output
    assert "<ops@example.com>" in result.output
    with app.app_context():
        assert accounts.authenticate("ops@example.com", "x" * 12) is not None


def test_create_user_prompts_for_what_is_missing(runner: Any, app: Flask) -> None:
    result = runner.invoke(
        args=["create-user"], input="p@example.com\nPat\nsecret-pass\nsecret-pass\n"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert accounts.user_by_email("p@example.com").name == "Pat"


def test_create_user_reports_invalid_input_without_a_traceback(runner: Any, make_user: Any) -> None:
    make_user(email="taken@example.com")
    taken = runner.invoke(
        args=["create-user", "--email", "taken@example.com", "--name", "T", "--password", "x" * 12]
    )
    assert taken.exit_code == 1
    assert "already exists" in taken.output
    invalid = runner.invoke(
        args=["create-user", "--email", "nope", "--name", "", "--password", "short"]
    )
    assert invalid.exit_code == 1
    assert "email:" in invalid.output
    assert "password:" in invalid.output
    assert "Traceback" not in invalid.output


def test_reset_password_sets_it_and_signs_the_account_out_everywhere(
    runner: Any, app: Flask, make_user: Any
) -> None:
    user = make_user(email="lost@example.com")
    with app.app_context():
        for _ in range(2):
            accounts.start_session(accounts.authenticate("lost@example.com", user["password"]))
    result = runner.invoke(
        args=["reset-password", "LOST@example.com"], input="brand new pass\nbrand new pass\n"
    )
    assert result.exit_code == 0, result.output
    assert "2 signed-in session(s) ended" in result.output
    with app.app_context():
        assert accounts.authenticate("lost@example.com", user["password"]) is None
        assert accounts.authenticate("lost@example.com", "brand new pass") is not None
    short = runner.invoke(args=["reset-password", "lost@example.com", "--password", "short"])
    assert short.exit_code == 1
    assert "new_password" in short.output
    assert "Traceback" not in short.output
    nobody = runner.invoke(args=["reset-password", "nobody@example.com", "--password", "x" * 9])
    assert nobody.exit_code == 1
    assert "No account has this email." in nobody.output


def test_seed_fills_an_account_with_varied_tasks(runner: Any, app: Flask, make_user: Any) -> None:
    user = make_user()
    result = runner.invoke(args=["seed", "--tasks", "1500", "--user", user["email"]])
    assert result.exit_code == 0, result.output
    assert "Inserted 1500 tasks" in result.output
    with app.app_context():
        owned = select(Task).where(Task.owner_id == user["id"])
        tasks = db.session.scalars(owned).all()
        assert len(tasks) == 1500
        assert {t.status for t in tasks} == {"pending", "in_progress", "completed", "failed"}
        assert {t.priority for t in tasks} == {1, 2, 3, 4, 5}
        assert len({t.title for t in tasks}) > 100
        assert 0.3 < sum(t.due_at is not None for t in tasks) / 1500 < 0.9
        assert 0.01 < sum(t.deleted_at is not None for t in tasks) / 1500 < 0.1
        assert all(t.completed_at is not None for t in tasks if t.status == "completed")
        assert all(t.created_at <= t.updated_at for t in tasks)
        ids = [t.id for t in tasks]
        events = db.session.scalar(
            select(func.count()).select_from(TaskEvent).where(TaskEvent.task_id.in_(ids))
        )
        assert events == 1500
        tagged = db.session.scalar(
            select(func.count(func.distinct(task_tags.c.task_id)))
            .join(Tag, Tag.id == task_tags.c.tag_id)
            .where(Tag.owner_id == user["id"])
        )
        assert 0.5 < tagged / 1500 < 0.9


def test_seed_creates_the_account_when_missing(runner: Any, app: Flask) -> None:
    result = runner.invoke(args=["seed", "--tasks", "5", "--user", "new@example.com"])
    assert result.exit_code == 0, result.output
    assert "Created new@example.com with password" in result.output
    password = result.output.split("with password ")[1].split()[0]
    with app.app_context():
        user = accounts.authenticate("new@example.com", password)
        assert user is not None
        assert db.session.scalar(select(func.count()).where(Task.owner_id == user.id)) == 5
        assert db.session.scalar(select(func.count()).select_from(User)) >= 1


@pytest.mark.parametrize(
    "command", [["db", "upgrade"], ["seed", "--tasks", "1"], ["reset-password", "a@example.com"]]
)
def test_an_unreachable_database_is_one_line_naming_the_variable(
    command: list[str], redis_url: str
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://someone:hunter2secret@127.0.0.1:{port}/nowhere"
    done = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", *command],
        cwd=ROOT, env=app_env(url, redis_url), input="pw-pw-pw-pw\npw-pw-pw-pw\n",
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    said = done.stderr.strip().splitlines()
    assert said[-1].startswith("Error: Cannot reach the database that DATABASE_URL names (")
    assert f"127.0.0.1:{port}/nowhere" in said[-1]
    assert "hunter2secret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
