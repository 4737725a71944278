"""Configuration, read from the environment and nowhere else."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


def normalise_database_url(url: str) -> str:
    """`postgres://` and `postgresql://` mean psycopg2 (SQLAlchemy 2.1 would pick psycopg 3)."""
    return re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg2://", url)


def _str(value: str, name: str) -> str:
    return value


def _database_url(value: str, name: str) -> str:
    """A URL SQLAlchemy can open, of PostgreSQL or SQLite; the error does not repeat the
    value, which may hold a password."""
    try:
        url = make_url(normalise_database_url(value))
    except ArgumentError:
        raise ConfigError(
            f"{name} is not a database URL: write postgresql://user:password@host:5432/name "
            "or sqlite:///path/to/file.sqlite3"
        ) from None
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise ConfigError(f"{name} must be a postgresql:// or sqlite:// URL, not {url.drivername}")
    return value


def _redis_url(value: str, name: str) -> str:
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    return value


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None


def _hosts(value: str, name: str) -> list[str]:
    return [host.strip() for host in value.split(",") if host.strip()]


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None


# name -> (parser, default). Every variable the application reads is listed here
# and documented in README.md and .env.example.
VARIABLES: dict[str, tuple[Any, Any]] = {
    "DATABASE_URL": (_database_url, None),
    "REDIS_URL": (_redis_url, None),
    "SECRET_KEY": (_str, None),
    "REGISTRATION_OPEN": (_bool, True),
    "MAX_CONTENT_LENGTH": (_int, 1024 * 1024),
    "LOG_LEVEL": (_str, "INFO"),
    "PROXY_FIX_HOPS": (_int, 0),
    # Flask's own check of the Host (and X-Forwarded-Host) a request names: others are 400.
    "TRUSTED_HOSTS": (_hosts, None),
    "RATELIMIT_ENABLED": (_bool, True),
    "RATELIMIT_API": (_str, "600 per minute"),
    "RATELIMIT_AUTH": (_str, "10 per minute"),
    "IDEMPOTENCY_TTL_HOURS": (_int, 24),
    # Background processing (README.md, "Background processing").
    "JOB_QUEUE": (_str, "tasktracker"),
    "TASK_PROCESSOR": (_str, "tasktracker.processing.processors.process_in_steps"),
    "PROCESS_STEPS": (_int, 5),
    "PROCESS_STEP_SECONDS": (_float, 1.0),
    "JOB_MAX_ATTEMPTS": (_int, 3),
    "JOB_RETRY_BACKOFF_SECONDS": (_float, 5.0),
    "JOB_TIMEOUT_SECONDS": (_int, 600),
    "JOB_HEARTBEAT_SECONDS": (_float, 10.0),
    "JOB_LEASE_SECONDS": (_float, 60.0),
    "REAPER_INTERVAL_SECONDS": (_float, 15.0),
    # Set under gunicorn with several workers: where each keeps its metrics (prometheus_client
    # reads it from the environment too).
    "PROMETHEUS_MULTIPROC_DIR": (_str, None),
}


# A production secret this short could be guessed; token_urlsafe(32) gives 43 characters.
MIN_SECRET_KEY_LENGTH = 32


def startup_warnings(config: Mapping[str, Any]) -> list[str]:
    """What a configuration allows but an operator should hear about at start."""
    said = []
    if config["TASKTRACKER_ENV"] == "production":
        if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            said.append(
                "TASKTRACKER_ENV=production on SQLite (DATABASE_URL unset or sqlite://): "
                "one machine, one writer at a time; production wants PostgreSQL"
            )
        if not config["REDIS_URL"]:
            said.append(
                "TASKTRACKER_ENV=production without REDIS_URL: jobs and rate limits live in "
                "this process alone; production wants Redis (and `flask worker`s)"
            )
    return said


def load_config(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Flask config from os.environ plus explicit overrides; fails fast on a bad value."""
    overrides = dict(overrides or {})
    env_name = overrides.pop("TASKTRACKER_ENV", None) or os.environ.get(
        "TASKTRACKER_ENV", "development"
    )
    if env_name not in ENVIRONMENTS:
        raise ConfigError(
            f"TASKTRACKER_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env_name!r}"
        )

    values: dict[str, Any] = {}
    for name, (parse, default) in VARIABLES.items():
        raw = os.environ.get(name)
        values[name] = default if raw in (None, "") else parse(raw, name)
    values.update(overrides)

    production = env_name == "production"
    if not values["SECRET_KEY"]:
        if production:
            raise ConfigError("SECRET_KEY must be set when TASKTRACKER_ENV=production")
        values["SECRET_KEY"] = "dev-only-insecure-secret-key"
    elif production and len(values["SECRET_KEY"]) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters when "
            "TASKTRACKER_ENV=production (make one: python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )

    database_url = values.pop("DATABASE_URL") or "sqlite:///" + str(
        Path(instance_path) / "tasktracker.sqlite3"
    )
    redis_url = values.pop("REDIS_URL")

    return {
        "TASKTRACKER_ENV": env_name,
        "TESTING": env_name == "testing",
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        # No ping per checkout: tasktracker.database notices a dead connection by its error.
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "REDIS_URL": redis_url,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "HSTS": production,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis unreachable: each process counts in its own memory (Flask-Limiter logs the
        # switch once, and goes back when Redis answers), and no error of the limiter's ever
        # fails a request, in particular not a write already committed when the headers are
        # written. The timeouts keep an unreachable host from stalling every request.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        # flask-smorest: we serve the JSON document; the UIs are our own pages.
        "API_TITLE": "Task Tracker API",
        "API_VERSION": "1.0",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        **values,
    }
