"""Retries that race: the same Idempotency-Key and body sent at once, over several
connections, to several gunicorn workers (the situation a client's timeout-and-retry
creates). One task is created, and every answer is its."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests import servers
from tests.conftest import required_env, scratch_database

RACERS = 8
ROUNDS = 5


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("idempotency")
    with scratch_database("idempotency") as database_url:
        env = servers.app_env(database_url, required_env("TEST_REDIS_URL"))
        servers.migrate(env)
        with servers.gunicorn(env, directory / "gunicorn.log", workers=3) as url:
            yield url


def _call(
    url: str, method: str, headers: dict[str, str], body: Any = None
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def _token(url: str) -> str:
    account = {"email": "racer@example.com", "name": "Racer", "password": "racing password"}
    _call(url + "/api/users", "POST", {}, account)
    basic = base64.b64encode(b"racer@example.com:racing password").decode()
    _, _, issued = _call(url + "/api/tokens", "POST", {"Authorization": f"Basic {basic}"})
    return issued["token"]


def _race(url: str, headers: dict[str, str], body: Any) -> list[tuple[int, dict[str, str], Any]]:
    """RACERS identical POSTs, released together; their answers."""
    start = threading.Barrier(RACERS)
    answers: list[tuple[int, dict[str, str], Any]] = []

    def post() -> None:
        start.wait()
        answers.append(_call(url, "POST", headers, body))

    threads = [threading.Thread(target=post) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_racing_retries_of_one_create_make_one_task(service: str) -> None:
    auth = {"Authorization": f"Bearer {_token(service)}"}
    for round_ in range(ROUNDS):
        headers = auth | {"Idempotency-Key": f"race-{round_}"}
        body = {"title": f"Raced {round_}", "tags": ["race"]}
        answers = _race(service + "/api/tasks", headers, body)
        assert [status for status, _, _ in answers] == [201] * RACERS
        assert len({json.dumps(task, sort_keys=True) for _, _, task in answers}) == 1
        first = [headers for _, headers, _ in answers if "Idempotent-Replayed" not in headers]
        assert len(first) == 1  # the one that created it; the others replay its answer
    _, _, listed = _call(service + "/api/tasks?tag=race", "GET", auth)
    assert listed["total"] == ROUNDS
