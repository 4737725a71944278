"""Account use cases: registration, sign-in and API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from tasktracker import security
from tasktracker.database import first_statement
from tasktracker.errors import Conflict, Forbidden, NotFound
from tasktracker.extensions import db
from tasktracker.models import ApiToken, User, utcnow
from tasktracker.schemas import RegistrationSchema, TokenRequestSchema, load_body

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


def get_user(user_id: int) -> User | None:
    """The signed-in user of a page request: its first statement (tasktracker.database)."""
    row = first_statement(_USER, {"user_id": user_id}).one_or_none()
    return None if row is None else _user(row)


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


def user_for_token(secret: str) -> User | None:
    """The owner of a live (not revoked, not expired) token; records its use. May commit."""
    row = first_statement(_TOKEN_WITH_USER, {"digest": security.token_digest(secret)}).one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None or _expired(row.expires_at, now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        db.session.execute(_STAMP_USE, {"token_id": row.token_id, "now": now})
        db.session.commit()
    return _user(row)


def _user(row: Any) -> User:
    """The User of a row holding the `users` columns, as if the session had loaded it."""
    user = User(**{column: getattr(row, column) for column in _USER_COLUMNS})
    make_transient_to_detached(user)
    return user


# Every request's first statement: the token and its user in one round trip (API), or the
# signed-in user (pages), read as plain rows (loading them as ORM objects costs more than
# the query itself).
_TOKENS, _USERS = ApiToken.__table__, User.__table__
_USER_COLUMNS = tuple(_USERS.c.keys())
_USER = select(_USERS).where(_USERS.c.id == bindparam("user_id"))
_TOKEN_WITH_USER = (
    select(
        _TOKENS.c.id.label("token_id"),
        _TOKENS.c.revoked_at,
        _TOKENS.c.expires_at,
        _TOKENS.c.last_used_at,
        *_USERS.c,
    )
    .join_from(_TOKENS, _USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("digest"))
)
_STAMP_USE = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now
