"""Behind a proxy: the app trusts the X-Forwarded-* headers the shipped nginx sets (For,
Proto, Host, Port) and nothing else, and with TRUSTED_HOSTS set answers no other host, so
no link it builds can point anywhere a client chose."""

from __future__ import annotations

from flask import Flask

from tests.conftest import make_app


def _behind_nginx(database_url: str, redis_url: str, **config: object) -> Flask:
    return make_app(database_url, redis_url, PROXY_FIX_HOPS=1, **config)


def test_a_forwarded_prefix_from_a_client_is_not_trusted(
    app: Flask, database_url: str, redis_url: str
) -> None:
    """nginx drops X-Forwarded-Prefix; were it to pass one through, the app still would not
    build its links on it (the redirect to the sign-in page is one such link)."""
    proxied = _behind_nginx(database_url, redis_url).test_client()
    headers = {"X-Forwarded-Prefix": "//evil.example", "X-Forwarded-Host": "tasks.example.com"}
    redirect = proxied.get("/tasks", headers=headers)
    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith("/signin")


def test_a_host_not_trusted_is_a_400_without_links(
    app: Flask, database_url: str, redis_url: str
) -> None:
    strict = make_app(database_url, redis_url, TRUSTED_HOSTS=["tasks.example.com"])
    client = strict.test_client()
    api = client.get("/api/tasks", headers={"Host": "evil.example"})
    assert api.status_code == 400
    assert api.json["code"] == "untrusted_host"
    page = client.get("/tasks", headers={"Host": "evil.example"})
    assert page.status_code == 400
    assert page.mimetype == "text/html"
    assert "evil" not in page.get_data(as_text=True)
    assert "href" not in page.get_data(as_text=True)
    assert client.get("/tasks", headers={"Host": "tasks.example.com"}).status_code == 302
    # Behind the proxy the forwarded host is the one checked.
    proxied = _behind_nginx(database_url, redis_url, TRUSTED_HOSTS=["tasks.example.com"])
    forwarded = proxied.test_client().get(
        "/signin", headers={"Host": "web:8000", "X-Forwarded-Host": "evil.example"}
    )
    assert forwarded.status_code == 400
