"""`flask bench insert` runs every mode end to end, checks its counts and leaves nothing
behind (a program, not a timed test: nothing here asserts a speed)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tasktracker.bench import inserts
from tasktracker.extensions import db
from tasktracker.http_extensions import limiter
from tasktracker.models import Task, User


@pytest.mark.parametrize("mode", ["orm", "core", "copy", "api"])
def test_every_mode_inserts_and_checks_its_counts(runner: Any, app: Flask, mode: str) -> None:
    limiting = limiter.enabled
    result = runner.invoke(args=["bench", "insert", "1500", "--mode", mode])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"bench insert: 1,500 tasks, mode {mode}" in out
    assert re.search(r"inserted in [\d.]+ s: [\d,]+ tasks/s, [\d,]+ rows/s", out), out
    links = int(re.search(r"\+ ([\d,]+) tag links", out).group(1).replace(",", ""))
    assert 1000 < links < 2500  # 0 to 3 tags a task, 1.1 on average
    assert f"counts: tasks +1,500, events +1,500, tag links +{links:,}" in out
    assert "the account's list total 1,500: as expected" in out
    assert limiter.enabled == limiting  # switched off for the run only
    with app.app_context():  # the throwaway account went with everything it held
        assert db.session.scalar(select(func.count()).where(User.email.like("bench-%"))) == 0
        assert db.session.scalar(select(func.count()).select_from(Task)) == 0


def test_counts_that_do_not_add_up_fail_the_run(
    runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert_core = inserts._insert_core

    def loses_one(owner: User, batch: Sequence[dict[str, Any]]) -> None:
        insert_core(owner, batch[1:])

    monkeypatch.setattr(inserts, "_insert_core", loses_one)
    result = runner.invoke(args=["bench", "insert", "10", "--mode", "core"])
    assert result.exit_code == 1
    assert "the counts do not add up" in result.output
    assert "tasks: +9 rows, expected +10" in result.output
    assert "GET /api/tasks answers total 9, expected 10" in result.output
