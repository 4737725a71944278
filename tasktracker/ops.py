"""Operations routes (no auth): liveness and readiness."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from tasktracker.database import first_statement
from tasktracker.errors import RETRY_AFTER_SECONDS, error_response
from tasktracker.extensions import db, redis_client

bp = Blueprint("ops", __name__)


def _check_database() -> None:
    first_statement(lambda: db.session.execute(text("SELECT 1")))
    db.session.rollback()


def _check_redis() -> None:
    redis_client.client.ping()


CHECKS = {"database": _check_database, "redis": _check_redis}


@bp.get("/health/live")
def live() -> Any:
    """200 whenever the process serves requests."""
    return {"status": "ok"}


@bp.get("/health")
def health() -> Any:
    """200 when every dependency answers; 503 naming the ones that do not."""
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as error:  # any failure of a dependency is "down", never a 500
            # The class name only: a message could carry a host name or a password.
            checks[name] = f"unavailable ({type(error).__name__})"
    failing = [name for name, state in checks.items() if state != "ok"]
    if not failing:
        return {"status": "ok", "checks": checks}
    return error_response(
        503,
        "service_unavailable",
        f"Unavailable: {', '.join(failing)}.",
        details={name: [checks[name]] for name in failing},
        headers={"Retry-After": RETRY_AFTER_SECONDS},
        extra={"checks": checks},
    )
