"""`flask bench http` end to end: the app and its twin under gunicorn, the identity check,
wrk's figures for every route (a program, not a timed test: no speed is asserted). And the
identity check's own strictness, on made-up replies. `flask bench wsgi`, the same requests
in process, end to end."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from collections.abc import Iterator

import click
import gunicorn.workers.sync
import pytest
from sqlalchemy import create_engine, text

from tasktracker.bench.identity import Reply, normalised, require_same
from tasktracker.bench.servers import RECYCLE_LINE
from tasktracker.config import normalise_database_url
from tests.conftest import scratch_database
from tests.servers import ROOT, VENV_BIN, app_env, migrate

ROUTES = ("get", "list", "list_filtered", "search", "deep", "post", "patch")
TWIN_ROUTES = ("get", "list", "post")


@pytest.fixture(scope="module")
def bench_database() -> Iterator[str]:
    with scratch_database("bench_http") as url:
        yield url


def _bench(database: str, redis_url: str, *args: str) -> str:
    """`flask bench ARGS...` on a migrated database; its output, once it succeeded."""
    env = app_env(database, redis_url)
    migrate(env)
    run = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "bench", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return run.stdout


def _left_behind(database: str) -> tuple[int, int]:
    """The users and tasks in the database (a benchmark's throwaway account goes with all
    it held)."""
    engine = create_engine(normalise_database_url(database))
    with engine.connect() as connection:
        users = connection.scalar(text("SELECT count(*) FROM users"))
        tasks = connection.scalar(text("SELECT count(*) FROM tasks"))
    engine.dispose()
    return users, tasks


def test_bench_wsgi_prints_each_route_s_cpu_beside_the_twin_s(
    bench_database: str, redis_url: str
) -> None:
    out = _bench(bench_database, redis_url, "wsgi", "--requests", "20", "--rounds", "2",
                 "--tasks", "50")  # fmt: skip
    assert "20 requests a round, the least of 2 rounds, one thread" in out
    for route in ("get", "list", "post"):
        twin = r"   twin +\d+ µs   app/twin x[\d.]+$"
        assert re.search(rf"^{route} +app +\d+ µs{twin}", out, re.MULTILINE), out
    assert re.search(r"^patch +app +\d+ µs$", out, re.MULTILINE), out
    assert _left_behind(bench_database) == (0, 0)


def test_bench_http_checks_the_twin_then_prints_every_route_s_figures(
    bench_database: str, redis_url: str
) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: `apt-get install wrk` (.ci/run installs it)")
    out = _bench(bench_database, redis_url, "http", "--tasks", "1000", "--rounds", "1",
                 "--duration", "1", "--connections", "2", "--threads", "1",
                 "--workers", "1")  # fmt: skip
    assert "seeded 1,000 tasks" in out
    assert re.search(r"^identical: GET /api/tasks/\d+$", out, re.MULTILINE), out
    assert "identical: GET /api/tasks\n" in out
    assert "identical: POST /api/tasks, the task read back and its event" in out
    for route in ROUTES:
        for target in ("app", "twin") if route in TWIN_ROUTES else ("app",):
            figures = (
                rf"^round 1/1  {route} +{target} +[\d,.]+ req/s  p50 +[\d.]+ ms  "
                rf"p99 +[\d.]+ ms  cpu/req +[\d.]+ \+ db +[\d.]+ ms  "
                rf"non-2xx 0  socket errors 0  recycled \d+  load [\d.]+$"
            )
            assert re.search(figures, out, re.MULTILINE), (route, target, out)
    summary = out[out.index("summary:") :]
    for route in TWIN_ROUTES:
        assert re.search(
            rf"^{route} +app +[\d,.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +x[\d.]+", summary, re.M
        )
    for route, baseline in (("list", "get"), ("search", "get"), ("deep", "list")):
        assert re.search(rf"^{route} +app .* {route}/{baseline} x[\d.]+$", summary, re.M)
    assert "ERRORS" not in out

    # The throwaway account went, with its tasks (and those the routes created).
    assert _left_behind(bench_database) == (0, 0)


def test_recycles_are_counted_by_the_line_gunicorn_logs() -> None:
    """bench http counts a run's worker recycles in the server's log by this line."""
    assert RECYCLE_LINE in inspect.getsource(gunicorn.workers.sync.SyncWorker)


def _reply(body: bytes, **headers: str) -> Reply:
    return Reply(200, {"Content-Type": "application/json", **headers}, body)


def test_the_identity_check_names_the_first_differing_byte() -> None:
    app = _reply(b'{"due_at":"2026-01-01T00:00:00+00:00","id":1}\n')
    twin = _reply(b'{"due_at":"2026-01-01T00:00:00Z","id":1}\n')
    with pytest.raises(click.ClickException, match="differ from byte 30 on"):
        require_same("GET /api/tasks/1", app, twin)
    require_same("GET /api/tasks/1", app, _reply(app.body))


def test_the_identity_check_compares_the_headers_it_names() -> None:
    body = b"{}\n"
    with pytest.raises(click.ClickException, match="the Link headers differ"):
        require_same("GET /api/tasks", _reply(body, Link="<a>"), _reply(body, Link="<b>"))
    with pytest.raises(click.ClickException, match="the ETag headers differ"):
        require_same("GET /api/tasks/1", _reply(body, ETag='"1"'), _reply(body))


def test_creates_are_compared_without_what_must_differ_and_nothing_else() -> None:
    first = _reply(
        b'{"created_at":"2026-01-01T00:00:00.1+00:00","id":7,"tags":["a"],"url":"/api/tasks/7"}',
        Location="/api/tasks/7",
    )
    second = _reply(
        b'{"created_at":"2026-01-01T00:00:01+00:00","id":8,"tags":["a"],"url":"/api/tasks/8"}',
        Location="/api/tasks/8",
    )
    require_same("POST /api/tasks", normalised(first), normalised(second))
    other_tags = _reply(second.body.replace(b'["a"]', b'["b"]'), Location="/api/tasks/8")
    with pytest.raises(click.ClickException, match="bodies differ"):
        require_same("POST /api/tasks", normalised(first), normalised(other_tags))
