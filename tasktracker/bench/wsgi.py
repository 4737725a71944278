"""`flask --app wsgi bench wsgi`: the CPU one API request costs the application itself, with
no HTTP server and no other load: requests go straight to the app's WSGI callable, one at a
time, in this process; on PostgreSQL the raw psycopg2 twin (tasktracker/bench/twin.py)
answers the same requests in the same run, as the baseline.

Run under `valgrind --tool=callgrind` with two `--requests` counts, the difference of the
instruction totals divided by the difference of the counts is a request's instructions: a
figure that does not move with the machine's load (docs/benchmarks.md).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app
from werkzeug.test import EnvironBuilder

from tasktracker.bench import twin as raw_twin
from tasktracker.bench.group import bench, routes_option, throwaway_account
from tasktracker.bench.runs import POST_BODY
from tasktracker.database import on_postgresql
from tasktracker.http_extensions import limiter
from tasktracker.services import accounts
from tasktracker.services.seed import seed_tasks

ROUTES = ("get", "list", "post", "patch")
TWIN_ROUTES = ("get", "list", "post")  # what the twin serves

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
Request = tuple[dict[str, Any], bytes]  # a WSGI environment and its body


class _Client:
    """Requests built once as WSGI environments and sent to a WSGI callable."""

    def __init__(self, token: str) -> None:
        self.token = token

    def environ(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Request:
        built = EnvironBuilder(
            path=path,
            method=method,
            base_url="http://127.0.0.1:8000",
            headers={"Authorization": f"Bearer {self.token}", **headers},
            data=body,
            content_type="application/json" if body is not None else None,
        ).get_environ()
        return built, built["wsgi.input"].read()

    @staticmethod
    def send(app: WSGIApp, request: Request) -> tuple[int, bytes]:
        environ, body = request
        statuses: list[str] = []
        answer = app(
            {**environ, "wsgi.input": io.BytesIO(body)},
            lambda status, headers, exc_info=None: statuses.append(status),
        )
        data = b"".join(answer)
        getattr(answer, "close", lambda: None)()
        return int(statuses[0].split()[0]), data


def _cpu_microseconds(app: WSGIApp, round_of: Callable[[], list[Request]], rounds: int) -> float:
    """The least CPU a request took over `rounds` rounds, each of the requests `round_of`
    builds (untimed), sent in a thread of their own: a request pushes its own contexts
    there, as under a server, not this command's."""
    best: list[float] = []
    failure: list[str] = []

    def measure() -> None:
        for _ in range(rounds):
            batch = round_of()
            started = time.thread_time()
            for request in batch:
                status, body = _Client.send(app, request)
                if status >= 300:
                    failure.append(f"answered {status}: {body[:200]!r}")
                    return
            best.append((time.thread_time() - started) / len(batch) * 1e6)

    worker = threading.Thread(target=measure)
    worker.start()
    worker.join()
    if failure:
        raise click.ClickException(failure[0])
    return min(best)


@bench.command("wsgi")
@routes_option(ROUTES)
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=2000, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--tasks", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--twin/--no-twin", default=True, help="Measure the twin too (PostgreSQL only).")
def bench_wsgi(routes: list[str], requests: int, rounds: int, tasks: int, twin: bool) -> None:
    """CPU microseconds per API request in process (the least of ROUNDS runs), beside the
    raw twin's on PostgreSQL. Uses a throwaway account, deleted after."""
    app: WSGIApp = current_app.wsgi_app  # what the server calls, middleware included
    with throwaway_account() as user, _as_served_by_bench_http():
        seed_tasks(user, tasks, seed=11)
        token = accounts.issue_token(user, {"name": "bench"}).secret
        client = _Client(token)
        task = json.loads(client.send(app, client.environ("POST", "/api/tasks", POST_BODY))[1])
        same = {
            "get": client.environ("GET", task["url"]),
            "list": client.environ("GET", "/api/tasks"),
            "post": client.environ("POST", "/api/tasks", POST_BODY),
        }
        with_twin = twin and on_postgresql()
        click.echo(f"{requests} requests a round, the least of {rounds} rounds, one thread")
        for name in routes:
            if name == "patch":
                round_of = _patches(app, client, task, requests)
            else:
                round_of = _same(same[name], requests)
            micros = _cpu_microseconds(app, round_of, rounds)
            line = f"{name:<6} app {micros:8.0f} µs"
            if with_twin and name in TWIN_ROUTES:
                baseline = _cpu_microseconds(raw_twin.app, round_of, rounds)
                line += f"   twin {baseline:6.0f} µs   app/twin x{micros / baseline:.2f}"
            click.echo(line)


def _same(request: Request, requests: int) -> Callable[[], list[Request]]:
    """Rounds of the same request."""
    batch = [request] * requests
    return lambda: batch


@contextmanager
def _as_served_by_bench_http() -> Iterator[None]:
    """Rate limits off (the benchmark's requests are not traffic to limit) and no access
    log line a request (LOG_LEVEL=WARNING), as `bench http` runs its servers; restored
    afterwards."""
    access = logging.getLogger("tasktracker.access")
    enabled, level = limiter.enabled, access.level
    limiter.enabled = False
    access.setLevel(logging.WARNING)
    try:
        yield
    finally:
        limiter.enabled = enabled
        access.setLevel(level)


def _patches(
    app: WSGIApp, client: _Client, task: dict[str, Any], requests: int
) -> Callable[[], list[Request]]:
    """Rounds of PATCH requests that each change the task (its priority, back and forth),
    each with the version the one before it leaves as If-Match."""

    def round_of() -> list[Request]:
        _, current = client.send(app, client.environ("GET", task["url"]))
        version = json.loads(current)["version"]
        return [
            client.environ(
                "PATCH",
                task["url"],
                json.dumps({"priority": 2 + (version + n) % 2}).encode(),
                **{"If-Match": f'"{version + n}"'},
            )
            for n in range(requests)
        ]

    return round_of
