"""Accounts and tokens (SPEC §3, §4, §6; docs/api.md "Authentication"): registration,
HTTP Basic token creation, bearer authentication, token listing and revocation, /api/me."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from tasktracker.extensions import db
from tasktracker.models import ApiToken, User
from tests.conftest import PASSWORD, basic_auth

USER_KEYS = {"id", "email", "name", "created_at"}
TOKEN_KEYS = {"id", "name", "prefix", "created_at", "last_used_at", "expires_at"}
NEW_TOKEN_KEYS = TOKEN_KEYS | {"token"}
ERROR_KEYS = {"error", "code", "status", "details", "request_id"}
TOKEN_PATTERN = re.compile(r"tt_[A-Za-z0-9_-]{43,}")


# --- helpers -----------------------------------------------------------------------------


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The §6 error shape with this status and code; returns the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) <= ERROR_KEYS
    assert {"error", "code", "status", "request_id"} <= set(body)
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["request_id"], str)
    assert body["request_id"]
    return body


def assert_unauthorized(response: Any, scheme: str) -> None:
    assert_error(response, 401, "unauthorized")
    assert scheme in response.headers.get("WWW-Authenticate", "")


def assert_invalid(response: Any, *fields: str) -> dict[str, Any]:
    body = assert_error(response, 422, "validation_failed")
    for field in fields:
        assert field in body.get("details", {}), body
    return body


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, f"{value} has no offset"
    return moment


def register(client: Any, **fields: Any) -> Any:
    data = {"email": "carol@example.com", "password": PASSWORD, "name": "Carol", **fields}
    return client.post("/api/users", json=data)


def new_token(client: Any, user: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/api/tokens", json=fields, headers=basic_auth(user["email"], user["password"])
    )
    assert response.status_code == 201, response.json
    # It carries the secret: no cache may keep it.
    assert response.headers["Cache-Control"] == "no-store"
    return response.json


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_row(app: Any, token_id: int) -> ApiToken:
    with app.app_context():
        row = db.session.get(ApiToken, token_id)
        assert row is not None
        db.session.expunge(row)
        return row


def set_token_times(app: Any, token_id: int, **times: datetime) -> None:
    with app.app_context():
        row = db.session.get(ApiToken, token_id)
        for name, value in times.items():
            setattr(row, name, value)
        db.session.commit()


# --- registration ------------------------------------------------------------------------


def test_register_returns_the_account_without_secrets(app, client):
    before = datetime.now(UTC)
    response = register(client, email="carol@example.com", name="Carol")
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == USER_KEYS
    assert isinstance(body["id"], int)
    assert body["email"] == "carol@example.com"
    assert body["name"] == "Carol"
    created_at = parse_time(body["created_at"])
    assert before - timedelta(seconds=5) <= created_at <= datetime.now(UTC) + timedelta(seconds=5)
    text = response.get_data(as_text=True)
    assert PASSWORD not in text
    assert "argon2" not in text
    assert "password" not in text


def test_registered_user_can_sign_in_and_see_themselves(client):
    user = register(client, email="dora@example.com", name="Dora").json
    token = new_token(client, {"email": "dora@example.com", "password": PASSWORD})["token"]
    response = client.get("/api/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json == user


@pytest.mark.usefixtures("production_password_hashing")
def test_password_is_stored_as_an_argon2id_hash(app, client):
    user_id = register(client).json["id"]
    with app.app_context():
        password_hash = db.session.get(User, user_id).password_hash
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert PasswordHasher().verify(password_hash, PASSWORD)
    response = client.post("/api/tokens", headers=basic_auth("carol@example.com", PASSWORD))
    assert response.status_code == 201


def test_email_is_stored_trimmed_and_lower_cased(app, client):
    response = register(client, email="  Carol.Smith@Example.COM ")
    assert response.status_code == 201, response.json
    assert response.json["email"] == "carol.smith@example.com"
    with app.app_context():
        stored = db.session.get(User, response.json["id"]).email
    assert stored == "carol.smith@example.com"


@pytest.mark.parametrize(
    "second", ["carol@example.com", "CAROL@EXAMPLE.COM", " Carol@example.com  "]
)
def test_email_uniqueness_ignores_case_and_spaces(app, client, second):
    assert register(client, email="Carol@Example.com").status_code == 201
    response = register(client, email=second, name="Another Carol")
    body = assert_error(response, 409, "email_taken")
    assert "email" in body["details"]
    with app.app_context():
        emails = db.session.scalars(select(User.email)).all()
    assert emails.count("carol@example.com") == 1
    assert len(emails) == 1


def test_sign_in_ignores_the_case_of_the_email(client):
    register(client, email="carol@example.com")
    response = client.post("/api/tokens", headers=basic_auth(" CAROL@Example.com", PASSWORD))
    assert response.status_code == 201, response.json


@pytest.mark.parametrize(
    "email", ["carol\x00@example.com", "carol@example.com\x00", "\x00", "carol@exa\x07mple.com"]
)
def test_credentials_no_account_can_have_are_refused_as_wrong(client, email):
    """An email the registration would refuse (a NUL, a control character) cannot match an
    account: a 401 like any wrong email, never a query PostgreSQL refuses."""
    register(client, email="carol@example.com")
    response = client.post("/api/tokens", headers=basic_auth(email, PASSWORD))
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"email": "not-an-email"}, ["email"], id="bad-email"),
        pytest.param({"email": "carol@"}, ["email"], id="email-without-domain"),
        pytest.param({"email": ""}, ["email"], id="empty-email"),
        pytest.param({"password": "1234567"}, ["password"], id="password-7-chars"),
        pytest.param({"password": 12345678}, ["password"], id="password-not-string"),
        pytest.param({"name": ""}, ["name"], id="empty-name"),
        pytest.param({"name": "x" * 101}, ["name"], id="name-too-long"),
        pytest.param({"name": "Car\x00ol"}, ["name"], id="name-nul"),
        pytest.param({"name": "Car\x07ol"}, ["name"], id="name-bell"),
        pytest.param({"name": "Car\nol"}, ["name"], id="name-newline"),
        pytest.param({"name": "Car\x9bol"}, ["name"], id="name-c1-control"),
        pytest.param({"is_admin": True}, ["is_admin"], id="unknown-field"),
        pytest.param({"id": 1}, ["id"], id="id-field"),
        pytest.param({"password_hash": "$argon2id$x"}, ["password_hash"], id="hash-field"),
        pytest.param(
            {"email": "bad", "password": "short", "name": ""},
            ["email", "password", "name"],
            id="all-bad",
        ),
    ],
)
def test_register_validation_names_the_fields(app, client, changes, fields):
    response = register(client, **changes)
    assert_invalid(response, *fields)
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []


@pytest.mark.parametrize("missing", ["email", "password", "name"])
def test_register_missing_field(client, missing):
    data = {"email": "carol@example.com", "password": PASSWORD, "name": "Carol"}
    del data[missing]
    assert_invalid(client.post("/api/users", json=data), missing)


def test_register_empty_object_names_every_field(client):
    body = assert_invalid(client.post("/api/users", json={}), "email", "password", "name")
    assert set(body["details"]) == {"email", "password", "name"}


def test_register_accepts_an_8_character_password(client):
    assert register(client, password="12345678").status_code == 201


def test_register_body_must_be_json(client):
    response = client.post(
        "/api/users",
        data="email=carol@example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 415, "unsupported_media_type")


def test_register_malformed_json(client):
    response = client.post("/api/users", data='{"email": ', content_type="application/json")
    assert_error(response, 400, "invalid_json")


def test_registration_closed(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REGISTRATION_OPEN", False)
    response = register(client)
    assert_error(response, 403, "registration_closed")
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []


def test_existing_users_still_get_tokens_while_registration_is_closed(
    app, client, make_user, monkeypatch
):
    user = make_user()
    monkeypatch.setitem(app.config, "REGISTRATION_OPEN", False)
    new_token(client, user)


# --- creating tokens ---------------------------------------------------------------------


def test_create_token(app, client, make_user):
    user = make_user()
    before = datetime.now(UTC)
    body = new_token(client, user, name="laptop")
    assert set(body) == NEW_TOKEN_KEYS
    assert isinstance(body["id"], int)
    assert body["name"] == "laptop"
    assert TOKEN_PATTERN.fullmatch(body["token"]), body["token"]
    assert body["prefix"] == body["token"][:11]
    assert body["last_used_at"] is None
    assert body["expires_at"] is None
    created_at = parse_time(body["created_at"])
    assert before - timedelta(seconds=5) <= created_at <= datetime.now(UTC) + timedelta(seconds=5)


def test_token_carries_256_random_bits(client, make_user):
    user = make_user()
    tokens = {new_token(client, user)["token"] for _ in range(3)}
    assert len(tokens) == 3
    for token in tokens:
        secret = token.removeprefix("tt_")
        assert len(secret) >= 43  # 43 url-safe base64 characters: 258 bits of text, 256 random
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret)


def test_only_the_sha256_digest_is_stored(app, client, make_user):
    user = make_user()
    body = new_token(client, user, name="ci")
    token = body["token"]
    with app.app_context():
        row = db.session.get(ApiToken, body["id"])
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.prefix == token[:11]
        assert row.user_id == user["id"]
        values = [getattr(row, column.key) for column in ApiToken.__table__.columns]
    stored = " ".join(str(value) for value in values)
    assert token not in stored
    assert token[3:] not in stored


def test_token_with_expiry(client, make_user):
    user = make_user()
    body = new_token(client, user, expires_in_days=7)
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs(parse_time(body["expires_at"]) - expected) < timedelta(minutes=1)
    assert client.get("/api/me", headers=bearer(body["token"])).status_code == 200


@pytest.mark.parametrize("days", [1, 3650])
def test_token_expiry_bounds_are_accepted(client, make_user, days):
    body = new_token(client, make_user(), expires_in_days=days)
    expected = datetime.now(UTC) + timedelta(days=days)
    assert abs(parse_time(body["expires_at"]) - expected) < timedelta(minutes=1)


def test_token_without_body(client, make_user):
    user = make_user()
    response = client.post("/api/tokens", headers=basic_auth(user["email"], user["password"]))
    assert response.status_code == 201, response.json
    assert TOKEN_PATTERN.fullmatch(response.json["token"])
    assert response.json["expires_at"] is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"expires_in_days": 0}, "expires_in_days", id="days-0"),
        pytest.param({"expires_in_days": -1}, "expires_in_days", id="days-negative"),
        pytest.param({"expires_in_days": 3651}, "expires_in_days", id="days-3651"),
        pytest.param({"expires_in_days": "7"}, "expires_in_days", id="days-string"),
        pytest.param({"expires_in_days": 1.5}, "expires_in_days", id="days-fraction"),
        pytest.param({"expires_in_days": True}, "expires_in_days", id="days-boolean"),
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": "x" * 101}, "name", id="name-too-long"),
        pytest.param({"name": "a\x00b"}, "name", id="name-nul"),
        pytest.param({"scope": "admin"}, "scope", id="unknown-field"),
        pytest.param({"token": "tt_" + "a" * 43}, "token", id="chosen-secret"),
    ],
)
def test_create_token_validation(app, client, make_user, data, field):
    user = make_user()
    response = client.post(
        "/api/tokens", json=data, headers=basic_auth(user["email"], user["password"])
    )
    assert_invalid(response, field)
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []


def test_create_token_body_must_be_json(client, make_user):
    user = make_user()
    response = client.post(
        "/api/tokens",
        data="name=laptop",
        content_type="text/plain",
        headers=basic_auth(user["email"], user["password"]),
    )
    assert_error(response, 415, "unsupported_media_type")


def test_create_token_malformed_json(client, make_user):
    user = make_user()
    response = client.post(
        "/api/tokens",
        data="{name",
        content_type="application/json",
        headers=basic_auth(user["email"], user["password"]),
    )
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param("wrong-password", id="wrong-password"),
        pytest.param("unknown-email", id="unknown-email"),
        pytest.param("empty-password", id="empty-password"),
        pytest.param("missing", id="missing-header"),
        pytest.param("bearer", id="bearer-instead-of-basic"),
        pytest.param("garbage", id="malformed-basic"),
    ],
)
def test_create_token_needs_basic_credentials(app, client, alice, credentials):
    email = alice.user["email"]
    headers = {
        "wrong-password": basic_auth(email, PASSWORD + "!"),
        "unknown-email": basic_auth("nobody@example.com", PASSWORD),
        "empty-password": basic_auth(email, ""),
        "missing": {},
        "bearer": bearer(alice.token),
        "garbage": {"Authorization": "Basic %%%not-base64%%%"},
    }[credentials]
    response = client.post("/api/tokens", json={}, headers=headers)
    assert_unauthorized(response, "Basic")
    with app.app_context():
        tokens = db.session.scalars(select(ApiToken)).all()
    assert len(tokens) == 1  # alice's own, from the fixture


def test_wrong_email_and_wrong_password_answer_alike(client, alice):
    wrong_password = client.post(
        "/api/tokens", headers=basic_auth(alice.user["email"], "not the password")
    )
    wrong_email = client.post("/api/tokens", headers=basic_auth("ghost@example.com", PASSWORD))
    for response in (wrong_password, wrong_email):
        assert_unauthorized(response, "Basic")
    first, second = wrong_password.json, wrong_email.json
    first.pop("request_id")
    second.pop("request_id")
    assert first == second
    assert wrong_password.headers["WWW-Authenticate"] == wrong_email.headers["WWW-Authenticate"]


# --- bearer authentication ---------------------------------------------------------------

PROTECTED_ROUTES = [
    ("GET", "/api/me"),
    ("GET", "/api/tokens"),
    ("DELETE", "/api/tokens/1"),
    ("GET", "/api/tasks"),
    ("POST", "/api/tasks"),
    ("GET", "/api/tasks/1"),
    ("PUT", "/api/tasks/1"),
    ("PATCH", "/api/tasks/1"),
    ("DELETE", "/api/tasks/1"),
    ("POST", "/api/tasks/1/restore"),
    ("POST", "/api/tasks/1/complete"),
    ("POST", "/api/tasks/1/reopen"),
    ("GET", "/api/tasks/1/events"),
    ("GET", "/api/tags"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED_ROUTES, ids=lambda v: v)
def test_every_protected_route_needs_a_bearer_token(app, client, alice, method, path):
    task = alice.create_task()
    path = path.replace("/1", f"/{task['id']}")
    kwargs = {"json": {"title": "x"}} if method in ("POST", "PUT", "PATCH") else {}
    response = client.open(path, method=method, **kwargs)
    assert_unauthorized(response, "Bearer")
    unchanged = alice.get(f"/api/tasks/{task['id']}").json
    assert unchanged["version"] == task["version"]
    assert unchanged["deleted_at"] is None


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda token, row: "Bearer", id="scheme-only"),
        pytest.param(lambda token, row: "Bearer ", id="scheme-and-space"),
        pytest.param(lambda token, row: token, id="no-scheme"),
        pytest.param(lambda token, row: f"Token {token}", id="other-scheme"),
        pytest.param(lambda token, row: f"Bearer{token}", id="no-space"),
        pytest.param(lambda token, row: "Bearer tt_" + "A" * 43, id="unknown-token"),
        pytest.param(lambda token, row: f"Bearer {token[:11]}", id="prefix-only"),
        pytest.param(lambda token, row: f"Bearer {token}x", id="extra-character"),
        pytest.param(lambda token, row: f"Bearer {token[:-1]}", id="truncated"),
        pytest.param(lambda token, row: f"Bearer {row.token_hash}", id="stored-digest"),
        pytest.param(lambda token, row: f"Bearer {token.upper()}", id="wrong-case"),
    ],
)
def test_bad_bearer_credentials(app, client, alice, authorization):
    token = alice.token
    with app.app_context():
        row = db.session.scalar(
            select(ApiToken).where(
                ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest()
            )
        )
        db.session.expunge(row)
    response = client.get("/api/me", headers={"Authorization": authorization(token, row)})
    assert_unauthorized(response, "Bearer")


def test_basic_credentials_do_not_open_bearer_routes(client, alice):
    response = client.get("/api/me", headers=basic_auth(alice.user["email"], PASSWORD))
    assert_unauthorized(response, "Bearer")


def test_revoked_token_is_refused(client, alice):
    token = new_token(client, alice.user)
    assert alice.delete(f"/api/tokens/{token['id']}").status_code == 204
    assert_unauthorized(client.get("/api/me", headers=bearer(token["token"])), "Bearer")


def test_expired_token_is_refused(app, client, alice):
    token = new_token(client, alice.user, expires_in_days=1)
    assert client.get("/api/me", headers=bearer(token["token"])).status_code == 200
    set_token_times(app, token["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert_unauthorized(client.get("/api/me", headers=bearer(token["token"])), "Bearer")
    assert_unauthorized(client.get("/api/tasks", headers=bearer(token["token"])), "Bearer")
    assert alice.get("/api/me").status_code == 200


def test_a_session_cookie_alone_never_authenticates_the_api(app, alice):
    browser = app.test_client()
    with browser.session_transaction() as session:
        # What Flask-Login (and a hand-rolled sign-in) would keep in the session.
        session["_user_id"] = str(alice.user["id"])
        session["user_id"] = alice.user["id"]
        session["_fresh"] = True
    for path in ("/api/me", "/api/tokens", "/api/tasks"):
        assert_unauthorized(browser.get(path), "Bearer")
    response = browser.post("/api/tasks", json={"title": "Forged"})
    assert_unauthorized(response, "Bearer")
    assert alice.get("/api/tasks").json["total"] == 0


# --- listing and revoking tokens ---------------------------------------------------------


def test_list_tokens_without_secrets_newest_first(client, alice, bob):
    first = new_token(client, alice.user, name="first")
    second = new_token(client, alice.user, name="second", expires_in_days=30)
    new_token(client, bob.user, name="bob's")
    response = alice.get("/api/tokens")
    assert response.status_code == 200
    tokens = response.json
    assert isinstance(tokens, list)
    for token in tokens:
        assert set(token) == TOKEN_KEYS
    text = response.get_data(as_text=True)
    assert first["token"] not in text
    assert second["token"] not in text
    assert alice.token not in text
    assert [t["name"] for t in tokens][:2] == ["second", "first"]
    assert len(tokens) == 3  # the fixture's token too, and none of Bob's
    assert [t["id"] for t in tokens] == sorted((t["id"] for t in tokens), reverse=True)
    assert tokens[0]["prefix"] == second["prefix"]
    assert tokens[0]["expires_at"] == second["expires_at"]
    assert "bob's" not in [t["name"] for t in tokens]


def test_revoke_token(client, alice):
    doomed = new_token(client, alice.user, name="doomed")
    kept = new_token(client, alice.user, name="kept")
    assert client.get("/api/me", headers=bearer(doomed["token"])).status_code == 200

    response = alice.delete(f"/api/tokens/{doomed['id']}")
    assert response.status_code == 204
    assert response.get_data() == b""

    assert_unauthorized(client.get("/api/me", headers=bearer(doomed["token"])), "Bearer")
    assert client.get("/api/me", headers=bearer(kept["token"])).status_code == 200
    assert alice.get("/api/me").status_code == 200
    names = [t["name"] for t in alice.get("/api/tokens").json]
    assert "doomed" not in names
    assert "kept" in names


def test_revoking_twice_is_a_no_op(app, client, alice):
    token = new_token(client, alice.user)
    assert alice.delete(f"/api/tokens/{token['id']}").status_code == 204
    revoked_at = token_row(app, token["id"]).revoked_at
    assert revoked_at is not None
    assert alice.delete(f"/api/tokens/{token['id']}").status_code == 204
    assert token_row(app, token["id"]).revoked_at == revoked_at


def test_a_token_can_revoke_itself(client, alice):
    token = new_token(client, alice.user)
    headers = bearer(token["token"])
    assert client.delete(f"/api/tokens/{token['id']}", headers=headers).status_code == 204
    assert_unauthorized(client.get("/api/me", headers=headers), "Bearer")


def test_revoke_missing_token(alice):
    assert_error(alice.delete("/api/tokens/999999"), 404, "token_not_found")


def test_last_used_at_is_recorded(app, client, alice):
    token = new_token(client, alice.user, name="used")
    assert token["last_used_at"] is None
    listed = {t["name"]: t for t in alice.get("/api/tokens").json}
    assert listed["used"]["last_used_at"] is None

    before = datetime.now(UTC)
    assert client.get("/api/me", headers=bearer(token["token"])).status_code == 200
    listed = {t["name"]: t for t in alice.get("/api/tokens").json}
    last_used = parse_time(listed["used"]["last_used_at"])
    assert before - timedelta(seconds=5) <= last_used <= datetime.now(UTC) + timedelta(seconds=5)


def test_last_used_at_is_written_at_most_once_a_minute(app, client, alice):
    token = new_token(client, alice.user)
    headers = bearer(token["token"])
    client.get("/api/me", headers=headers)
    first = token_row(app, token["id"]).last_used_at
    assert first is not None
    client.get("/api/me", headers=headers)
    assert token_row(app, token["id"]).last_used_at == first

    long_ago = datetime.now(UTC) - timedelta(minutes=2)
    set_token_times(app, token["id"], last_used_at=long_ago)
    client.get("/api/me", headers=headers)
    assert token_row(app, token["id"]).last_used_at > long_ago + timedelta(minutes=1)


# --- /api/me -----------------------------------------------------------------------------


def test_me_returns_the_caller(alice, bob):
    for caller in (alice, bob):
        response = caller.get("/api/me")
        assert response.status_code == 200
        body = response.json
        assert set(body) == USER_KEYS
        assert body["id"] == caller.user["id"]
        assert body["email"] == caller.user["email"]
        assert body["name"] == caller.user["name"]
        parse_time(body["created_at"])
    assert alice.get("/api/me").json["id"] != bob.get("/api/me").json["id"]
