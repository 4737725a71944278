"""The HTML pages through the test client: sessions, CSRF, ownership, form errors,
redirects. (tests/browser drives the same pages in Chromium.)"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from tasktracker.extensions import db
from tasktracker.models import Job, WebSession, utcnow
from tasktracker.services import accounts
from tests.conftest import PASSWORD, ApiClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/signin") -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any], page: str = "/signin") -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


def signed_in(app: Flask, user: dict[str, Any]) -> FlaskClient:
    client = app.test_client()
    response = post(client, "/signin", {"email": user["email"], "password": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def browser_of(app: Flask) -> Any:
    return lambda api_client: signed_in(app, api_client.user)


def test_pages_need_a_session(client: FlaskClient) -> None:
    for path in ("/tasks", "/tasks/new", "/tokens", "/account", "/tasks/1"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/signin?next=")


def test_sign_up_sign_in_sign_out(client: FlaskClient) -> None:
    response = post(
        client, "/signup", {"name": "Zoe", "email": "Zoe@Example.com", "password": "long enough"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/tasks"
    assert "Welcome, Zoe" in client.get("/tasks").get_data(as_text=True)
    assert post(client, "/signout", {}, page="/tasks").status_code == 303
    assert client.get("/tasks").status_code == 302
    wrong = post(client, "/signin", {"email": "zoe@example.com", "password": "nope"})
    assert wrong.status_code == 401
    assert "do not match" in wrong.get_data(as_text=True)
    impossible = post(client, "/signin", {"email": "zoe\x00@example.com", "password": PASSWORD})
    assert impossible.status_code == 401
    assert "do not match" in impossible.get_data(as_text=True)
    assert (
        post(client, "/signin", {"email": "ZOE@example.com", "password": "long enough"}).status_code
        == 303
    )


def _copy_of(app: Flask, browser: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `browser`'s session cookie (a stolen one)."""
    copy = app.test_client()
    cookie = browser.get_cookie("session")
    assert cookie is not None
    copy.set_cookie("session", cookie.value)
    return copy


def test_signing_out_ends_the_session_in_every_copy_of_its_cookie(
    app: Flask, alice: ApiClient, browser_of: Any
) -> None:
    browser = browser_of(alice)
    copy = _copy_of(app, browser)
    other_browser = browser_of(alice)
    assert copy.get("/tasks").status_code == 200
    assert post(browser, "/signout", {}, page="/tasks").status_code == 303
    assert copy.get("/tasks").status_code == 302
    assert browser.get("/tasks").status_code == 302
    assert other_browser.get("/tasks").status_code == 200  # only that session ended


def test_signing_out_everywhere_ends_every_session_of_the_account(
    app: Flask, alice: ApiClient, bob: ApiClient, browser_of: Any
) -> None:
    browsers = [browser_of(alice) for _ in range(3)]
    bobs = browser_of(bob)
    ended = post(browsers[0], "/signout/everywhere", {}, page="/account")
    assert ended.status_code == 303
    assert "3 sessions ended" in browsers[0].get("/signin").get_data(as_text=True)
    assert [b.get("/tasks").status_code for b in browsers] == [302, 302, 302]
    assert bobs.get("/tasks").status_code == 200


def test_changing_the_password_ends_every_other_session_of_the_account(
    app: Flask, alice: ApiClient, bob: ApiClient, browser_of: Any
) -> None:
    browser, other_browser, bobs = browser_of(alice), browser_of(alice), browser_of(bob)
    stolen = _copy_of(app, browser)
    new = "a much better passphrase"
    changed = post(
        browser,
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "new_password_again": new},
        page="/account",
    )
    assert changed.status_code == 303
    assert changed.headers["Location"] == "/account"
    assert "Password changed" in browser.get("/account").get_data(as_text=True)
    assert [b.get("/tasks").status_code for b in (stolen, other_browser, bobs)] == [302, 302, 200]
    assert alice.get("/api/me").status_code == 200  # API tokens keep working
    email = alice.user["email"]
    assert (
        post(app.test_client(), "/signin", {"email": email, "password": PASSWORD}).status_code
        == 401
    )
    assert post(app.test_client(), "/signin", {"email": email, "password": new}).status_code == 303


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"current_password": "not it at all"}, "current_password", "not your current password"),
        ({"new_password_again": "something else"}, "new_password_again", "differ"),
        ({"new_password": "short", "new_password_again": "short"}, "new_password", "8"),
        ({"new_password": "bad\x00password!"}, "new_password", ""),
    ],
)
def test_a_refused_password_change_says_why_next_to_the_field_and_changes_nothing(
    app: Flask, alice: ApiClient, browser_of: Any, fields: dict[str, str], field: str, message: str
) -> None:
    browser, other_browser = browser_of(alice), browser_of(alice)
    form = {"current_password": PASSWORD, "new_password": "new password 1",
            "new_password_again": "new password 1", **fields}  # fmt: skip
    if "new_password_again" not in fields and "new_password" in fields:
        form["new_password_again"] = fields["new_password"]
    refused = post(browser, "/account/password", form, page="/account")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(
        rf'id="{field}"[^>]*aria-invalid="true"[^>]*aria-describedby="{field}-error"', html
    )
    error = re.search(rf'<small id="{field}-error" class="field-error">([^<]*)</small>', html)
    assert error
    assert message in error.group(1)
    assert PASSWORD not in html  # nothing typed is sent back
    assert 'value="new password 1"' not in html
    assert [b.get("/tasks").status_code for b in (browser, other_browser)] == [200, 200]
    with app.app_context():
        assert accounts.authenticate(alice.user["email"], PASSWORD) is not None


def test_the_api_neither_reads_nor_writes_the_cookie_session(
    app: Flask, alice: ApiClient, browser_of: Any
) -> None:
    browser = browser_of(alice)
    for path in ("/api/tasks", "/api/me", "/health/live"):
        response = browser.get(path)  # the signed-in browser's cookie goes along
        assert response.status_code == (200 if path == "/health/live" else 401), path
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    answered = alice.get("/api/tasks")
    assert answered.status_code == 200
    assert "Cookie" not in answered.headers.get("Vary", "")
    assert browser.get("/tasks").headers.get("Vary") == "Cookie"  # the pages do read it


def test_a_session_ends_after_its_lifetime(app: Flask, alice: ApiClient, browser_of: Any) -> None:
    browser = browser_of(alice)
    with app.app_context():
        db.session.execute(
            update(WebSession)
            .where(WebSession.user_id == alice.user["id"])
            .values(created_at=utcnow() - accounts.SESSION_LIFETIME - timedelta(seconds=1))
        )
        db.session.commit()
    assert browser.get("/tasks").status_code == 302


def test_sign_up_errors_sit_next_to_their_fields(client: FlaskClient, make_user: Any) -> None:
    make_user(email="taken@example.com")
    response = post(
        client, "/signup", {"name": "", "email": "taken@example.com", "password": "short"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="name" name="name" type="text" value="" required' in html
    assert re.search(
        r'id="password"[^>]*aria-invalid="true"[^>]*aria-describedby="password-error"', html
    )
    assert 'id="password-error"' in html
    password_input = html.split('id="password"')[1].split(">")[0]
    assert "short" not in password_input  # a password is never sent back


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    response = client.post("/signin", data={"email": "a@example.com", "password": "x" * 10})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "This form has expired" in response.get_data(as_text=True)


def test_sign_in_goes_back_only_to_this_site(client: FlaskClient, make_user: Any) -> None:
    user = make_user()
    targets = [("/tokens", "/tokens"), ("https://evil.example/x", "/tasks"),
               ("//evil.example", "/tasks"), ("javascript:alert(1)", "/tasks")]  # fmt: skip
    for target, expected in targets:
        fresh = client.application.test_client()
        fields = {"email": user["email"], "password": PASSWORD, "next": target}
        response = post(fresh, "/signin", fields)
        assert response.headers["Location"] == expected, target


def test_task_form_keeps_what_was_typed(alice: ApiClient, browser_of: Any) -> None:
    client = browser_of(alice)
    fields = {"title": "   ", "priority": "9", "tags": "work, a,b", "description": "kept text"}
    response = post(client, "/tasks/new", fields, page="/tasks/new")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="title"[^>]*aria-invalid="true"', html)
    assert "kept text</textarea>" in html
    assert 'value="work, a,b"' in html
    assert alice.get("/api/tasks").json["total"] == 0


def test_a_stale_edit_is_refused_with_both_versions(alice: ApiClient, browser_of: Any) -> None:
    task = alice.create_task(title="Original")
    client = browser_of(alice)
    page = f"/tasks/{task['id']}/edit"
    alice.patch(task["url"], json={"title": "Changed elsewhere"})
    response = post(client, page, {"title": "Mine", "priority": "3", "status": "pending",
                                   "version": "1"}, page=page)  # fmt: skip
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed since you opened it" in html
    assert "Changed elsewhere" in html
    assert 'value="Mine"' in html
    assert 'name="version" value="2"' in html  # saving again is a deliberate overwrite
    assert alice.get(task["url"]).json["title"] == "Changed elsewhere"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/edit"), ("POST", "/edit"), ("GET", "/delete"), ("POST", "/delete"),
     ("POST", "/toggle"), ("POST", "/restore"), ("POST", "/process")],
)  # fmt: skip
def test_another_accounts_task_pages_are_404(
    alice: ApiClient, bob: ApiClient, browser_of: Any, method: str, suffix: str
) -> None:
    task = bob.create_task(title="Bob's")
    client = browser_of(alice)
    path = f"/tasks/{task['id']}{suffix}"
    if method == "GET":
        response = client.get(path)
    else:
        response = post(
            client, path, {"title": "taken", "done": "1", "version": "1"}, page="/tasks"
        )
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert bob.get(task["url"]).json == task


def test_bulk_actions_skip_other_accounts_tasks(
    alice: ApiClient, bob: ApiClient, browser_of: Any
) -> None:
    mine = [alice.create_task(title=f"m{n}")["id"] for n in range(3)]
    theirs = bob.create_task()["id"]
    client = browser_of(alice)
    response = post(client, "/tasks/bulk", {"action": "complete", "ids": [*mine[:2], theirs]},
                    page="/tasks")  # fmt: skip
    assert response.status_code == 303
    statuses = {t["id"]: t["status"] for t in alice.get("/api/tasks").json["items"]}
    assert statuses == {mine[0]: "completed", mine[1]: "completed", mine[2]: "pending"}
    assert bob.get(f"/api/tasks/{theirs}").json["status"] == "pending"
    post(client, "/tasks/bulk", {"action": "delete", "ids": mine}, page="/tasks")
    assert alice.get("/api/tasks").json["total"] == 0
    assert alice.get("/api/tasks?deleted=only").json["total"] == 3


def test_html_errors_are_pages(client: FlaskClient) -> None:
    for path, status in (("/nope", 404), ("/signout", 405)):
        response = client.get(path)
        assert response.status_code == status
        assert response.mimetype == "text/html"
        assert f"<h1>{status}" in response.get_data(as_text=True)


def test_a_failing_page_is_a_500_page_without_internals(
    alice: ApiClient, browser_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SELECT secret FROM /srv/app/internal.py")

    monkeypatch.setattr("tasktracker.web.tasks.task_lists.tag_counts", broken)
    response = browser_of(alice).get("/tasks")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "<h1>500" in body
    assert 'href="/static/' in body  # the styled layout, not a bare message
    for leak in ("RuntimeError", "SELECT", "/srv/app", "Traceback"):
        assert leak not in body


def test_a_polled_job_row_asks_for_the_task_to_be_redrawn_when_its_state_moved(
    alice: ApiClient, browser_of: Any
) -> None:
    task = alice.create_task(title="Polled")
    job = alice.post(task["url"] + "/process").json
    page = browser_of(alice)
    panel = f"/jobs/{job['id']}/panel"
    same = page.get(f"{panel}?seen=queued")
    assert same.status_code == 200
    assert "HX-Trigger" not in same.headers
    assert f'hx-get="{panel}?seen=queued"' in same.get_data(as_text=True)
    assert "hx-swap-oob" not in same.get_data(as_text=True)
    moved = page.get(f"{panel}?seen=running")
    assert moved.headers["HX-Trigger"] == "task-changed"
    alice.post(f"/api/jobs/{job['id']}/cancel")
    ended = page.get(f"{panel}?seen=queued")
    assert ended.headers["HX-Trigger"] == "task-changed"
    assert "hx-get" not in ended.get_data(as_text=True)  # an ended job's row stops asking


def test_a_browser_session_does_not_open_the_api(alice: ApiClient, browser_of: Any) -> None:
    """The API takes bearer tokens only: a signed-in browser's cookie is not enough (so a
    page on another site cannot use it to call the API, CSRF token or not)."""
    page = browser_of(alice)
    assert page.get("/tasks").status_code == 200
    for method, path in (("get", "/api/tasks"), ("post", "/api/tasks"), ("get", "/api/me")):
        response = getattr(page, method)(path, json={"title": "Sneaky"})
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert alice.get("/api/tasks").json["total"] == 0


def test_pages_carry_a_strict_content_security_policy(
    client: FlaskClient, alice: ApiClient, browser_of: Any
) -> None:
    page = browser_of(alice)
    for response in (client.get("/signin"), page.get("/tasks"), page.get("/tokens"),
                     page.get("/nope")):  # fmt: skip
        policy = response.headers["Content-Security-Policy"]
        directives = dict(part.partition(" ")[::2] for part in policy.split("; "))
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        body = response.get_data(as_text=True)
        assert "<script>" not in body  # every script is a file of the app's own
        assert " style=" not in body


@pytest.mark.parametrize(
    ("state", "attempt", "error", "news"),
    [
        ("running", 1, None, "Processing started (attempt 1 of 3)."),
        ("succeeded", 1, None, "Processing succeeded."),
        ("failed", 3, "ValueError: no", "Processing failed: ValueError: no"),
        ("queued", 1, "ValueError: no", "Attempt 1 of 3 failed; retrying at"),
        ("cancelled", 1, None, "Processing cancelled."),
    ],
)
def test_a_polled_job_row_tells_the_live_region_what_happened(
    alice: ApiClient, browser_of: Any, app: Flask, state: str, attempt: int, error: Any, news: str
) -> None:
    task = alice.create_task(title="Told")
    job = alice.post(task["url"] + "/process").json
    with app.app_context():
        row = db.session.get(Job, uuid.UUID(job["id"]))
        row.state, row.attempt, row.error = state, attempt, error
        row.retry_at = utcnow() if state == "queued" else None
        db.session.commit()
    seen = "running" if state == "queued" else "queued"
    body = browser_of(alice).get(f"/jobs/{job['id']}/panel?seen={seen}").get_data(as_text=True)
    news_html = body[body.index('<div id="flashes" hx-swap-oob="innerHTML">') :]
    assert news in news_html
