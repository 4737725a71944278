"""`flask --app wsgi bench ...`: programs that measure and print figures (SPEC §10)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from flask.cli import AppGroup

from tasktracker.extensions import db
from tasktracker.models import User
from tasktracker.services import accounts

bench = AppGroup("bench", help="Benchmarks: they print figures, and ratios to a baseline.")


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


# The commands attach themselves to `bench`.
from tasktracker.bench import http, inserts, jobs, listing, wsgi  # noqa: E402, F401
