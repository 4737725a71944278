"""`flask --app wsgi bench ...`: programs that measure and print figures (SPEC §10)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from flask.cli import AppGroup

from tasktracker.extensions import db
from tasktracker.models import User
from tasktracker.services import accounts

# Registered by tasktracker.cli, which gives it its help.
bench = AppGroup("bench")


@contextmanager
def throwaway_account() -> Iterator[User]:
    """An account for the benchmark's data, deleted (with all of it) afterwards."""
    email = f"bench-{secrets.token_hex(4)}@example.invalid"
    user = accounts.register_user(
        {"email": email, "name": "Benchmark", "password": secrets.token_urlsafe(12)},
        by_operator=True,
    )
    try:
        yield user
    finally:
        db.session.rollback()
        db.session.execute(User.__table__.delete().where(User.email == email))
        db.session.commit()


def routes_option(routes: Sequence[str]) -> Callable[[Any], Any]:
    """`--routes`: names separated by commas, each one of `routes` (all by default); the
    command gets them in `routes`' order."""

    def names(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
        chosen = [name.strip() for name in value.split(",") if name.strip()]
        if not chosen or any(name not in routes for name in chosen):
            raise click.BadParameter(f"choose among {', '.join(routes)}, separated by commas")
        return [name for name in routes if name in chosen]

    return click.option(
        "--routes",
        default=",".join(routes),
        show_default=True,
        callback=names,
        help="Which routes to measure, separated by commas.",
    )
