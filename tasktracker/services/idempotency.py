"""The responses kept for Idempotency-Keys (the API's creates: api/idempotency.py decides
when one is replayed): found, remembered in the unit of work of what they answer, purged
once past their window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import select

from tasktracker.errors import ValidationFailed
from tasktracker.extensions import db
from tasktracker.models import IdempotencyKey, Owner, utcnow


class Kept(NamedTuple):
    """A response kept for a key."""

    status: int
    body: dict[str, Any]


def kept_response(owner: Owner, key: str, request_hash: str) -> Kept | None:
    """The response kept for the owner's key within the window (IDEMPOTENCY_TTL_HOURS); a
    422 if the key came with another body. A key past its window is let go."""
    kept = db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == owner.id, IdempotencyKey.key == key)
    )
    if kept is None:
        return None
    if kept.created_at < utcnow() - _window():
        db.session.delete(kept)
        db.session.flush()
        return None
    if kept.request_hash != request_hash:
        raise ValidationFailed(
            "This Idempotency-Key was already used with a different body.",
            code="idempotency_key_reused",
        )
    return Kept(kept.response_status, kept.response_body)


def keep_response(owner: Owner, key: str, request_hash: str, response: Kept) -> None:
    """Keeps the response in the caller's unit of work (no commit): it is kept exactly when
    what it answers is committed. A concurrent request with the same key makes that commit
    an IntegrityError (`uq_idempotency_keys_user_id`)."""
    db.session.add(
        IdempotencyKey(
            user_id=owner.id,
            key=key,
            request_hash=request_hash,
            response_status=response.status,
            response_body=response.body,
        )
    )


def kept_after_conflict(owner: Owner, key: str, request_hash: str) -> Kept | None:
    """After a commit that failed on an IntegrityError: rolls it back and returns the
    response a concurrent request kept for the same key, if that was the conflict."""
    db.session.rollback()
    return kept_response(owner, key, request_hash)


def purge_idempotency_keys() -> int:
    """Deletes the keys past their window. Commits; returns how many went."""
    result = db.session.execute(
        IdempotencyKey.__table__.delete().where(IdempotencyKey.created_at < utcnow() - _window())
    )
    db.session.commit()
    return result.rowcount


def _window() -> timedelta:
    return timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])
