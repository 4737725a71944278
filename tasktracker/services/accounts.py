"""Account use cases: registration, sign-in, browser sessions, passwords and API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from flask_login import UserMixin
from marshmallow import ValidationError
from sqlalchemy import ColumnElement, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from tasktracker import security
from tasktracker.database import Prepared, first_statement
from tasktracker.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tasktracker.extensions import db
from tasktracker.models import ApiToken, User, WebSession, utcnow
from tasktracker.schemas import (
    PasswordChangeSchema,
    PasswordResetSchema,
    RegistrationSchema,
    TokenRequestSchema,
    load_body,
)

# A token's last use is written at most this often, so reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def register_user(data: Any, *, by_operator: bool = False) -> User:
    """Creates an account (403 while registration is closed, unless an operator does it);
    409 if the email is taken. Commits."""
    if not by_operator and not current_app.config["REGISTRATION_OPEN"]:
        raise Forbidden("Registration is closed.", code="registration_closed")
    fields = load_body(RegistrationSchema(), data)
    taken = Conflict(
        "An account with this email already exists.",
        code="email_taken",
        details={"email": ["An account with this email already exists."]},
    )
    if db.session.scalar(select(User.id).where(User.email == fields["email"])) is not None:
        raise taken
    user = User(
        email=fields["email"],
        name=fields["name"],
        password_hash=security.hash_password(fields["password"]),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # registered concurrently
        db.session.rollback()
        raise taken from None
    return user


@dataclass(frozen=True, slots=True)
class Account(UserMixin):
    """A user as every request reads it (the API token's owner, the pages' signed-in user):
    a plain record of its `users` row. Changes go through the mapped `User`. A signed-in
    browser's carries its session (`session`, what Flask-Login keeps in the cookie)."""

    id: int
    email: str
    name: str
    created_at: datetime
    session: str | None = None

    def get_id(self) -> str | None:
        return self.session


# A browser stays signed in this long at most (its cookie usually ends sooner, with it).
SESSION_LIFETIME = timedelta(days=30)


def start_session(user: User | Account) -> Account:
    """A new signed-in browser for the user, whose id goes into the session cookie. Commits."""
    secret = secrets.token_urlsafe(security.TOKEN_BYTES)
    db.session.add(WebSession(user_id=user.id, digest=security.token_digest(secret)))
    db.session.commit()
    return Account(user.id, user.email, user.name, user.created_at, session=secret)


def user_for_session(secret: str) -> Account | None:
    """The user of a live session (not ended, not older than SESSION_LIFETIME): the first
    statement of a page request (tasktracker.database)."""
    digest = security.token_digest(secret)
    found = first_statement(lambda: _SESSION_USER.one_or_none({"digest": digest}))
    if (
        found is None
        or found.ended_at is not None
        or found.started_at <= utcnow() - SESSION_LIFETIME
    ):
        return None
    return Account(*found.user, session=secret)


def end_session(secret: str) -> None:
    """Signing out: the session ends, and with it every copy of its cookie. Commits."""
    _end_sessions(WebSession.digest == security.token_digest(secret))
    db.session.commit()


def end_all_sessions(user: Account) -> int:
    """Signs the user out of every browser; returns how many sessions ended. Commits."""
    ended = _end_sessions(WebSession.user_id == user.id)
    db.session.commit()
    return ended


def change_password(account: Account, data: Any) -> Account:
    """The signed-in user's new password, given the current one (422 naming the field that
    is wrong). Every session of the account ends, copies of its cookies with them, and the
    browser that asked gets the returned new one. API tokens are left as they are. Commits."""
    fields = load_body(PasswordChangeSchema(), data)
    user = db.session.get_one(User, account.id)
    if not security.verify_password(user.password_hash, fields["current_password"]):
        raise ValidationFailed(
            "Invalid fields: current_password.",
            details={"current_password": ["That is not your current password."]},
        )
    _replace_password(user, fields["new_password"])
    return start_session(user)


def reset_password(email: str, data: Any) -> int:
    """An operator sets an account's password (`flask reset-password`), for someone who has
    lost theirs: every session of the account ends. Commits; returns how many ended."""
    user = user_by_email(email)
    if user is None:
        raise NotFound("No account has this email.", code="user_not_found")
    ended = _replace_password(user, load_body(PasswordResetSchema(), data)["new_password"])
    db.session.commit()
    return ended


def _replace_password(user: User, password: str) -> int:
    user.password_hash = security.hash_password(password)
    return _end_sessions(WebSession.user_id == user.id)


def _end_sessions(which: ColumnElement[bool]) -> int:
    """Ends the live sessions `which` selects, in the caller's transaction; how many."""
    ended = db.session.execute(
        update(WebSession).where(which, WebSession.ended_at.is_(None)).values(ended_at=utcnow())
    )
    return ended.rowcount


def purge_sessions() -> int:
    """Deletes the sessions ended or past their lifetime. Commits; returns how many went."""
    gone = db.session.execute(
        delete(WebSession).where(
            or_(
                WebSession.ended_at.is_not(None),
                WebSession.created_at < utcnow() - SESSION_LIFETIME,
            )
        )
    )
    db.session.commit()
    return gone.rowcount


def user_by_email(email: str) -> User | None:
    """The account of an email as typed (trimmed, in any case); None, without asking the
    database, for one the registration would refuse (a NUL, a control character), as no
    account can have it."""
    try:
        address = _EMAIL.deserialize(email)
    except ValidationError:
        return None
    return db.session.scalar(select(User).where(User.email == address))


# The registration's own email field: what it refuses, no account has.
_EMAIL = RegistrationSchema().fields["email"]


def authenticate(email: str, password: str) -> User | None:
    """The user these credentials belong to, or None. Upgrades an outdated hash (commits)."""
    user = user_by_email(email)
    if user is None:
        security.burn_password_check(password)
        return None
    if not security.verify_password(user.password_hash, password):
        return None
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
        db.session.commit()
    return user


def issue_token(user: User, data: Any, *, schema: TokenRequestSchema | None = None) -> ApiToken:
    """A new bearer token, its secret on `.secret` of the returned instance only (the database
    keeps a digest). Commits."""
    fields = load_body(schema or TokenRequestSchema(), data)
    secret = security.new_token()
    days = fields["expires_in_days"]
    token = ApiToken(
        user_id=user.id,
        name=fields["name"],
        prefix=secret[: security.SHOWN_PREFIX_LENGTH],
        token_hash=security.token_digest(secret),
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    db.session.add(token)
    db.session.commit()
    token.secret = secret
    return token


def list_tokens(user: User) -> list[ApiToken]:
    """The user's tokens that are not revoked, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: int) -> None:
    """Revokes at once (idempotent); 404 for another user's token. Commits."""
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None:
        raise NotFound("No such token.", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()


def user_for_token(secret: str) -> Account | None:
    """The owner of a live (not revoked, not expired) token; records its use. May commit."""
    digest = security.token_digest(secret)
    token = first_statement(lambda: _TOKEN_WITH_USER.one_or_none({"digest": digest}))
    now = utcnow()
    if token is None or token.revoked_at is not None or _expired(token.expires_at, now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        db.session.execute(_STAMP_USE, {"token_id": token.id, "now": now})
        db.session.commit()
    return token.user


class _SessionUse(NamedTuple):
    started_at: datetime
    ended_at: datetime | None
    user: tuple[Any, ...]


class _TokenUse(NamedTuple):
    id: int
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    user: Account


# Every request's first statement: the token and its user in one round trip (API), or the
# signed-in user (pages), read as plain records.
_TOKENS, _USERS = ApiToken.__table__, User.__table__
_ACCOUNT = [_USERS.c[name] for name in ("id", "email", "name", "created_at")]
_SESSIONS = WebSession.__table__
_SESSION_USER = Prepared(
    select(_SESSIONS.c.created_at, _SESSIONS.c.ended_at, *_ACCOUNT)
    .join_from(_SESSIONS, _USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.digest == bindparam("digest")),
    lambda started_at, ended_at, *user: _SessionUse(started_at, ended_at, user),
)
_TOKEN_WITH_USER = Prepared(
    select(
        _TOKENS.c.id,
        _TOKENS.c.revoked_at,
        _TOKENS.c.expires_at,
        _TOKENS.c.last_used_at,
        *_ACCOUNT,
    )
    .join_from(_TOKENS, _USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("digest")),
    lambda token_id, revoked_at, expires_at, last_used_at, *user: _TokenUse(
        token_id, revoked_at, expires_at, last_used_at, Account(*user)
    ),
)
_STAMP_USE = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now
