"""Idempotency-Key on the API's creates (`POST /api/tasks`, `POST /api/tasks/bulk`).

The same key and body within the window (IDEMPOTENCY_TTL_HOURS) replay the first response,
marked `Idempotent-Replayed: true`; the key with another body is a 422
(`idempotency_key_reused`). The response is kept in the commit of what it answers (the
service calls back before its commit), so a retried create is never done twice, and a
create that failed keeps no key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from sqlalchemy.exc import IntegrityError

from tasktracker.errors import BadRequest
from tasktracker.models import Owner
from tasktracker.services.idempotency import (
    Kept,
    keep_response,
    kept_after_conflict,
    kept_response,
)

T = TypeVar("T")

KEY = re.compile(r"[\x21-\x7e]{1,255}")
PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "pattern": f"^{KEY.pattern}$"},
    "description": "Printable ASCII without spaces, 1 to 255 characters (else 400). "
    "Repeating the same key and body within 24 h replays the first response",
}
REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "`true` when the response replays the first one for this Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def created_once(
    owner: Owner,
    data: Any,
    create: Callable[[Callable[[T], None] | None], T],
    respond: Callable[[T], Kept],
) -> tuple[Kept, dict[str, str]]:
    """The response to the owner's create of `data` and its headers: `create(before_commit)`
    runs the service (which calls `before_commit` with what it created, before its commit)
    and `respond` makes the response of what it returns. With an Idempotency-Key, a repeat
    answers the kept response instead, and the response is kept with the create."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return respond(create(None)), {}
    if not KEY.fullmatch(key):
        raise BadRequest(
            "The Idempotency-Key header must be 1–255 printable ASCII characters.",
            code="invalid_idempotency_key",
            details={"Idempotency-Key": ["Invalid key."]},
        )
    request_hash = hashlib.sha256(
        json.dumps(data, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    ).hexdigest()
    kept = kept_response(owner, key, request_hash)
    if kept is not None:
        return kept, {"Idempotent-Replayed": "true"}
    responses: list[Kept] = []

    def keep(created: T) -> None:
        responses.append(respond(created))
        keep_response(owner, key, request_hash, responses[0])

    try:
        create(keep)
    except IntegrityError:  # a concurrent request with the same key committed first
        kept = kept_after_conflict(owner, key, request_hash)
        if kept is None:
            raise
        return kept, {"Idempotent-Replayed": "true"}
    return responses[0], {}
