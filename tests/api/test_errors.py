"""SPEC §6: one error shape for everything under /api/ and the operations routes, HTML error
pages everywhere else, never a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tasktracker.http_extensions import limiter
from tests.conftest import ApiClient, make_app

ERROR_KEYS = {"error", "code", "status", "request_id"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.json
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"details"}
    assert body["status"] == status
    assert body["code"] == code
    assert body["error"].endswith(".")
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_unknown_api_route_is_json_404(client: Any) -> None:
    assert_error(client.get("/api/nothing/here"), 404, "not_found")
    assert_error(client.get("/api"), 404, "not_found")


def test_unknown_operations_route_is_json_404(client: Any) -> None:
    assert_error(client.get("/health/deep"), 404, "not_found")


def test_unknown_page_is_html_404(client: Any) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<h1>404" in response.get_data(as_text=True)


def test_method_not_allowed_keeps_allow(alice: ApiClient) -> None:
    response = alice.delete("/api/tasks")
    body = assert_error(response, 405, "method_not_allowed")
    assert "details" not in body
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {
        "GET", "HEAD", "OPTIONS", "POST",
    }  # fmt: skip
    task = alice.create_task()
    response = alice.post(task["url"])
    assert_error(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["Allow"]


def test_method_not_allowed_on_a_page_is_html(client: Any) -> None:
    response = client.post("/static/js/swagger-init.js")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]


def test_missing_credentials_is_401_with_challenge(client: Any) -> None:
    response = client.get("/api/tasks")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_body_that_is_not_json_is_415(alice: ApiClient) -> None:
    response = alice.post(
        "/api/tasks", data="title=x", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")
    assert_error(alice.post("/api/tasks"), 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "raw", ["{", "{'title': 'x'}", '{"title": "x",}', "\xff", "[" * 100_000 + "]" * 100_000]
)
def test_malformed_json_is_400(alice: ApiClient, raw: str) -> None:
    response = alice.post("/api/tasks", data=raw.encode("latin-1"), content_type="application/json")
    assert_error(response, 400, "invalid_json")


def test_body_over_the_limit_is_413(alice: ApiClient, app: Flask) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"title": "x", "description": "y" * limit})
    response = alice.post("/api/tasks", data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert alice.get("/api/tasks").json["total"] == 0


def test_validation_error_names_every_field(alice: ApiClient) -> None:
    response = alice.post("/api/tasks", json={"title": "", "priority": 9, "extra": 1})
    body = assert_error(response, 422, "validation_failed")
    assert set(body["details"]) == {"title", "priority", "extra"}
    assert all(isinstance(m, list) and m for m in body["details"].values())


def test_request_id_is_honoured_or_made(client: Any) -> None:
    response = client.get("/api/tasks", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.json["request_id"] == "abc-123"
    made = client.get("/api/tasks", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces"
    assert len(made.headers["X-Request-ID"]) == 32


def test_security_headers_on_every_response(client: Any) -> None:
    for path in ("/api/tasks", "/health/live", "/no/such/page", "/api/openapi.json"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                          "frame-ancestors 'none'"):  # fmt: skip
            assert directive in csp, (path, directive)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]
        assert "Strict-Transport-Security" not in headers  # only in production


@pytest.fixture
def crashing_app(database_url: str, redis_url: str, backend: str) -> Flask:
    """An app whose routes raise, to see what an unexpected error looks like."""
    app = make_app(database_url, redis_url)

    def explode() -> None:
        raise RuntimeError("secret detail /etc/passwd SELECT * FROM users")

    app.add_url_rule("/api/explode", "explode", explode)
    app.add_url_rule("/explode", "explode_page", explode)
    return app


def test_unexpected_error_is_500_without_details(crashing_app: Flask) -> None:
    client = crashing_app.test_client()
    response = client.get("/api/explode")
    body = assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    for leak in ("secret", "/etc/passwd", "SELECT", "RuntimeError"):
        assert leak not in text
    assert "details" not in body

    page = client.get("/explode")
    assert page.status_code == 500
    assert page.mimetype == "text/html"
    assert "secret" not in page.get_data(as_text=True)


def test_the_api_limit_is_one_bucket_across_routes(
    app: Flask, database_url: str, redis_url: str
) -> None:
    """One bucket per token (here one no account has: 401s count too) whatever the route."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    limited = make_app(
        database_url, redis_url, RATELIMIT_ENABLED=True, RATELIMIT_API="3 per minute"
    )
    try:
        client = limited.test_client()
        bearer = {"Authorization": "Bearer no-such-token"}
        paths = ["/api/me", "/api/tasks", "/api/tags", "/api/tokens"]
        statuses = [client.get(path, headers=bearer).status_code for path in paths]
        assert statuses == [401, 401, 401, 429]
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        limiter.enabled = app.config["RATELIMIT_ENABLED"]


def test_rate_limit_is_429_with_retry_after(app: Flask, database_url: str, redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    limited = make_app(
        database_url, redis_url, RATELIMIT_ENABLED=True, RATELIMIT_AUTH="2 per minute"
    )
    try:
        client = limited.test_client()
        responses = [
            client.post("/api/tokens", headers={"Authorization": "Basic eDp5"}) for _ in range(3)
        ]
        assert [r.status_code for r in responses] == [401, 401, 429]
        assert "Retry-After" not in responses[0].headers  # only where a retry is asked for
        assert responses[0].headers["X-RateLimit-Remaining"] == "1"
        response = client.post("/api/tokens", headers={"Authorization": "Basic eDp5"})
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["Retry-After"]) > 0
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        # The limiter is one object for every app of the process: the other tests' apps
        # run with rate limits off.
        limiter.enabled = app.config["RATELIMIT_ENABLED"]
