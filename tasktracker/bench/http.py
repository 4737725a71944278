"""`flask --app wsgi bench http`: the JSON API over real HTTP under gunicorn, measured with
wrk, against its raw psycopg2 twin (tasktracker/bench/twin.py) in the same run."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import text

from tasktracker.bench.dataset import (
    BIG_ACCOUNTS,
    BIG_TASKS_PER_ACCOUNT,
    ensure_big_data_set,
    sample_task_ids,
    write_patch_lists,
    write_task_ids,
)
from tasktracker.bench.group import bench, routes_option, throwaway_account
from tasktracker.bench.identity import check_twin, fetch
from tasktracker.bench.runs import POST_BODY, READ_PATHS, ROUTES, SCRIPTS, report, run_line, run_wrk
from tasktracker.bench.servers import serving
from tasktracker.database import vacuum_analyze
from tasktracker.extensions import db
from tasktracker.services import accounts
from tasktracker.services.seed import seed_tasks

PER_PAGE = 20
DEEP_PAGE = 500


@bench.command("http")
@click.option(
    "--tasks",
    "count",
    type=click.IntRange(100, 5_000_000),
    default=100_000,
    show_default=True,
    help="How many tasks the benchmark account holds.",
)
@click.option(
    "--big",
    is_flag=True,
    help=f"Also {BIG_ACCOUNTS * BIG_TASKS_PER_ACCOUNT:,} "
    f"tasks over {BIG_ACCOUNTS:,} other accounts, seeded once and kept for reuse.",
)
@click.option("--rounds", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option(
    "--duration",
    type=click.IntRange(1, 3600),
    default=10,
    show_default=True,
    help="Seconds per run.",
)
@click.option("--connections", type=click.IntRange(1, 10_000), default=16, show_default=True)
@click.option(
    "--threads", type=click.IntRange(1, 256), default=2, show_default=True, help="wrk's threads."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="gunicorn workers, for the app and for the twin.",
)
@routes_option(tuple(ROUTES))
def bench_http(
    count: int,
    big: bool,
    rounds: int,
    duration: int,
    connections: int,
    threads: int,
    workers: int,
    routes: list[str],
) -> None:
    """Requests per second and latency of the JSON API under gunicorn (the production
    configuration), measured with wrk over HTTP, against a raw psycopg2 twin of the read
    and create routes, in interleaved rounds. Refuses to measure unless the twin answers
    with the application's bytes. Uses a throwaway account, deleted after."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise click.ClickException("wrk is not installed (Debian: apt-get install wrk).")
    if connections < threads:
        raise click.BadParameter("must be at least --threads", param_hint="--connections")
    if not current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        raise click.ClickException("bench http measures PostgreSQL: set DATABASE_URL.")
    with (
        _sigterm_as_exit(),
        throwaway_account() as user,
        tempfile.TemporaryDirectory(prefix="bench-http-") as scratch,
    ):
        if big:
            ensure_big_data_set()
        directory = Path(scratch)
        started = time.perf_counter()
        seed_tasks(user, count, seed=7)
        click.echo(f"seeded {count:,} tasks in {time.perf_counter() - started:.1f} s")
        token = accounts.issue_token(user, {"name": "bench http"}).secret
        vacuum_analyze(db.metadata.sorted_tables)
        live = write_task_ids(user, directory / "ids.txt")
        samples = sample_task_ids(user)
        targets = {
            "app": ("wsgi:app", "/health/live"),
            "twin": ("tasktracker.bench.twin:app", "/health/live"),
        }
        root = Path(current_app.root_path).parent
        env = _server_env(workers)
        with serving(targets, env, root, directory) as servers:
            ports = {name: server.port for name, server in servers.items()}
            postmaster = _postmaster_pid()
            click.echo(f"app and twin: {workers} gunicorn workers each, ports {ports}")
            for compared in check_twin(ports["app"], ports["twin"], token, samples, POST_BODY):
                click.echo(f"identical: {compared}")
            arguments = {
                **READ_PATHS,
                "get": str(directory / "ids.txt"),
                "patch": str(directory / "patch-%d.txt"),
            }
            if "deep" in routes:
                arguments["deep"] = _deep_path(ports["app"], token, live)
            wrk_command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
            runs = []
            for round_number in range(1, rounds + 1):
                for name in routes:
                    for target in ("app", "twin") if ROUTES[name].twin else ("app",):
                        if name == "patch":
                            write_patch_lists(user, threads, arguments["patch"])
                        command = [*wrk_command, "-s", str(SCRIPTS / ROUTES[name].script)]
                        command.append(f"http://127.0.0.1:{ports[target]}")
                        if name in arguments:
                            command += ["--", arguments[name]]
                        cpu_of = (servers[target].process.pid, postmaster)
                        recycled = servers[target].recycles()
                        run = run_wrk(command, round_number, name, target, token, duration, cpu_of)
                        run = replace(run, recycled=servers[target].recycles() - recycled)
                        runs.append(run)
                        click.echo(f"round {round_number}/{rounds}  {run_line(run)}")
    report(runs, rounds)


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM ends the command as Ctrl-C does, through its clean-ups (the servers stopped,
    the account deleted), rather than around them."""

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _deep_path(app_port: int, token: str, live: int) -> str:
    """The application's own `next` link from the page before the deep one: page
    DEEP_PAGE by cursor, or the last full page of the account's `live` tasks."""
    page = max(2, min(DEEP_PAGE, live // PER_PAGE))
    reply = fetch(app_port, "GET", f"/api/tasks?per_page={PER_PAGE}&page={page - 1}", token)
    found = re.search(
        r'<https?://[^/>]+(/[^>]*cursor=[^>]*)>; rel="next"', reply.headers.get("Link", "")
    )
    if reply.status != 200 or found is None:
        raise click.ClickException(f"page {page - 1} has no cursor link to page {page}")
    click.echo(f"deep: page {page} by cursor")
    return found.group(1)


def _postmaster_pid() -> int | None:
    """PostgreSQL's root process (the parent of this connection's backend), whose process
    tree's CPU time is the database's share of each run; None unless the server runs on
    this machine and /proc shows it."""
    if db.engine.url.host not in (None, "", "127.0.0.1", "localhost", "::1"):
        return None
    backend = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.rollback()
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _server_env(workers: int) -> dict[str, str]:
    """The production configuration of both servers, on this app's database and Redis;
    nothing of this process's gunicorn or Flask settings leaks into it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GUNICORN_", "FLASK_"))
    }
    env.update(
        TASKTRACKER_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(32),
        RATELIMIT_ENABLED="false",
        WEB_CONCURRENCY=str(workers),
        DATABASE_URL=current_app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=current_app.config["REDIS_URL"] or "",
        LOG_LEVEL="WARNING",
    )
    return env
