"""`flask --app wsgi ...` commands: db (Flask-Migrate, loaded when used), create-user,
reset-password, seed, worker, bench."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, with_appcontext
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from werkzeug.utils import import_string

from tasktracker.errors import AppError
from tasktracker.extensions import db, init_migrations
from tasktracker.processing.workers import run_worker
from tasktracker.services import accounts
from tasktracker.services.seed import seed_tasks

DEMO_EMAIL = "demo@example.com"


def database_reachable(app: Flask) -> None:
    """A command's first question to the database: unreachable, it is a one-line error
    naming DATABASE_URL's host, port and database (never its password), not a traceback."""
    with app.app_context():
        try:
            db.session.execute(text("SELECT 1"))
        except OperationalError as error:
            url = db.session.get_bind().engine.url.render_as_string(hide_password=True)
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise click.ClickException(
                f"Cannot reach the database that DATABASE_URL names ({url}): {reason}"
            ) from None


def _with_database(command: Callable[..., Any]) -> Callable[..., Any]:
    """Runs `database_reachable` before the command (which needs the app context)."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        database_reachable(current_app._get_current_object())
        return command(*args, **kwargs)

    return checked


def _fail(error: AppError) -> click.ClickException:
    details = "".join(
        f"\n  {field}: {' '.join(messages)}" for field, messages in (error.details or {}).items()
    )
    return click.ClickException(error.message + details)


@click.command("create-user")
@with_appcontext
@_with_database
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(email: str, name: str, password: str) -> None:
    """Create an account (works while registration is closed)."""
    try:
        user = accounts.register_user(
            {"email": email, "name": name, "password": password}, by_operator=True
        )
    except AppError as error:
        raise _fail(error) from None
    click.echo(f"Created user {user.id} <{user.email}>.")


@click.command("reset-password")
@with_appcontext
@_with_database
@click.argument("email")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
def reset_password(email: str, password: str) -> None:
    """Set an account's password (for someone who lost theirs): signs it out everywhere."""
    try:
        ended = accounts.reset_password(email, {"new_password": password})
    except AppError as error:
        raise _fail(error) from None
    click.echo(f"Password set for {email}; {ended} signed-in session(s) ended.")


@click.command("seed")
@with_appcontext
@_with_database
@click.option(
    "--tasks", "count", type=click.IntRange(1, 10_000_000), default=200, show_default=True
)
@click.option(
    "--user",
    "email",
    default=DEMO_EMAIL,
    show_default=True,
    help="Whose account to fill; created (with a printed password) if missing.",
)
@click.option("--random-seed", type=int, default=None, help="Make the data reproducible.")
def seed(count: int, email: str, random_seed: int | None) -> None:
    """Fill an account with realistic tasks, in bulk."""
    user = accounts.user_by_email(email)
    if user is None:
        password = secrets.token_urlsafe(12)
        try:
            user = accounts.register_user(
                {"email": email, "name": "Demo User", "password": password}, by_operator=True
            )
        except AppError as error:
            raise _fail(error) from None
        click.echo(f"Created {user.email} with password {password}")
    started = time.perf_counter()
    inserted = seed_tasks(user, count, seed=random_seed)
    elapsed = time.perf_counter() - started
    click.echo(
        f"Inserted {inserted} tasks for {user.email} in {elapsed:.2f} s "
        f"({inserted / elapsed:,.0f} tasks/s)."
    )


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queues are empty.")
@click.option(
    "--fork/--no-fork",
    default=False,
    show_default=True,
    help="Run each job in a work horse forked for it (RQ's model: a job that crashes, leaks "
    "or hangs takes only its horse with it), or one after another in the worker process "
    "(several times the throughput for short jobs).",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    help="Exit after this many jobs, for the supervisor to start a fresh worker (bounds a "
    "processor's leak in a worker that does not fork).",
)
@click.argument("queues", nargs=-1)
@with_appcontext
def worker(burst: bool, fork: bool, max_jobs: int | None, queues: tuple[str, ...]) -> None:
    """Process jobs: an RQ worker on REDIS_URL (QUEUES default to JOB_QUEUE).

    Run as many as you like, on as many machines, against one Redis and one database.
    """
    if not current_app.config["REDIS_URL"]:
        raise click.ClickException(
            "REDIS_URL is not set: without it the web process works its own in-process queue, "
            "and a separate worker could not see it."
        )
    run_worker(queues, burst=burst, fork=fork, max_jobs=max_jobs)


class ImportedWhenUsed(click.Group):
    """A command group imported when it runs or lists its commands, not with every app:
    `flask db` brings Alembic (a tenth of a web worker's memory), `flask bench` the
    benchmark programs; neither has any use in a web or job worker. The group takes on
    the imported one's options, callback and subcommands then; `prepare` (given the app)
    runs first."""

    def __init__(
        self,
        name: str,
        import_name: str,
        help: str,
        prepare: Callable[[Flask], None] | None = None,
    ) -> None:
        super().__init__(name, help=help)
        self.import_name, self.prepare = import_name, prepare

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:  # fmt: skip
        commands = self._commands(parent)
        self.params, self.callback = commands.params, commands.callback
        return super().make_context(info_name, args, parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._commands(ctx).list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._commands(ctx).get_command(ctx, name)

    def _commands(self, ctx: click.Context | None) -> click.Group:
        if ctx is not None and self.prepare is not None:
            self.prepare(ctx.ensure_object(ScriptInfo).load_app())
        commands: click.Group = import_string(self.import_name)
        return commands


def _migrations(app: Flask) -> None:
    init_migrations(app)
    database_reachable(app)


def register_commands(app: Flask) -> None:
    app.cli.add_command(
        ImportedWhenUsed(
            "db",
            "flask_migrate.cli:db",
            help="Database migrations (Flask-Migrate).",
            prepare=_migrations,
        )
    )
    app.cli.add_command(create_user)
    app.cli.add_command(reset_password)
    app.cli.add_command(seed)
    app.cli.add_command(
        ImportedWhenUsed(
            "bench",
            "tasktracker.bench:bench",
            help="Benchmarks: they print figures, and ratios to a baseline.",
        )
    )
    app.cli.add_command(worker)
