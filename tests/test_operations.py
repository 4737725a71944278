"""Health routes, configuration from the environment."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from tasktracker import create_app
from tasktracker.config import VARIABLES, ConfigError, load_config, normalise_database_url
from tests.conftest import make_app


def test_live(client: Any) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_health_checks_database_and_redis(client: Any) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_health_names_the_failing_dependency(database_url: str) -> None:
    app = make_app(database_url, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = app.test_client().get("/health")
    assert response.status_code == 503
    body = response.json
    assert body["checks"] == {"database": "ok", "redis": "unavailable (ConnectionError)"}
    assert body["code"] == "service_unavailable"
    assert body["status"] == 503
    assert body["details"] == {"redis": ["unavailable (ConnectionError)"]}
    assert response.headers["Retry-After"].isdigit()
    assert "127.0.0.1:1" not in response.get_data(as_text=True)


def test_health_when_the_database_is_down(redis_url: str) -> None:
    app = make_app("postgresql://nobody:secret@127.0.0.1:1/none", redis_url)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.json["checks"]["database"].startswith("unavailable")
    assert response.json["checks"]["redis"] == "ok"
    assert "secret" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg2://u:p@h/db"),
        ("postgresql://u:p@h:5433/db", "postgresql+psycopg2://u:p@h:5433/db"),
        ("postgresql+psycopg2://h/db", "postgresql+psycopg2://h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_urls_are_normalised_to_psycopg2(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


def test_zero_config_is_sqlite_in_the_instance_folder(monkeypatch: Any, tmp_path: Any) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TASKTRACKER_ENV"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(str(tmp_path))
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/tasktracker.sqlite3"
    assert config["REDIS_URL"] is None
    assert config["TASKTRACKER_ENV"] == "development"
    assert config["SESSION_COOKIE_SECURE"] is False


def test_production_refuses_to_start_without_a_secret(monkeypatch: Any) -> None:
    monkeypatch.setenv("TASKTRACKER_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_a_short_secret_without_repeating_it(monkeypatch: Any) -> None:
    monkeypatch.setenv("TASKTRACKER_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "abc-short-secret")
    with pytest.raises(ConfigError, match="SECRET_KEY must be at least 32 characters") as error:
        create_app()
    assert "abc-short-secret" not in str(error.value)


def test_production_on_sqlite_or_without_redis_is_said_at_start(
    monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TASKTRACKER_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 32)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.delenv("REDIS_URL", raising=False)
    create_app()
    said = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    warnings = [record["message"] for record in said if record["level"] == "WARNING"]
    assert any(message.startswith("TASKTRACKER_ENV=production on SQLite") for message in warnings)
    assert any("without REDIS_URL" in message for message in warnings)


def test_production_turns_on_secure_cookies_and_hsts(monkeypatch: Any, redis_url: str) -> None:
    monkeypatch.setenv("TASKTRACKER_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 32)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("REDIS_URL", redis_url)
    app: Flask = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/health/live")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TASKTRACKER_ENV", "staging"),
        ("REGISTRATION_OPEN", "maybe"),
        ("PROXY_FIX_HOPS", "x"),
        ("DATABASE_URL", "localhost:5432/tasks"),
        ("DATABASE_URL", "mysql://u:secret@db/tasks"),
        ("REDIS_URL", "localhost:6379"),
    ],
)
def test_bad_environment_values_fail_fast_naming_the_variable(
    monkeypatch: Any, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name) as raised:
        load_config("/tmp")
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("hops", "url", "remote"),
    [(0, "http://localhost/where", "10.0.0.2"), (1, "https://tasks.example.com/where", "1.2.3.4")],
)
def test_proxy_fix_trusts_only_the_configured_hops(
    database_url: str, redis_url: str, hops: int, url: str, remote: str
) -> None:
    app = make_app(database_url, redis_url, PROXY_FIX_HOPS=hops)
    app.add_url_rule("/where", "where", lambda: {"url": request.url, "remote": request.remote_addr})
    response = app.test_client().get(
        "/where",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tasks.example.com",
                 "X-Forwarded-For": "1.2.3.4"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )  # fmt: skip
    assert response.json == {"url": url, "remote": remote}


def test_every_variable_is_documented() -> None:
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    example = (root / ".env.example").read_text()
    for name in ["TASKTRACKER_ENV", *VARIABLES]:
        assert f"`{name}`" in readme, name
        assert f"\n{name}=" in example, name


def test_log_lines_are_json_without_terminal_styles(app: Flask) -> None:
    """`make run`: werkzeug writes its banner in ANSI bold; the JSON line keeps the words."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_tasktracker", False))
    url = "\x1b[1mhttp://127.0.0.1:5000\x1b[0m"
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, " * Running on %s", (url,), None
    )
    line = json.loads(handler.format(record))
    assert line["message"] == " * Running on http://127.0.0.1:5000"
    assert (line["level"], line["logger"]) == ("INFO", "werkzeug")
