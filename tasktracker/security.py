"""Secrets: argon2 password hashes and bearer tokens stored only as SHA-256 digests."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's low-memory profile (t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()

TOKEN_PREFIX = "tt_"
# 32 random bytes: 256 bits, url-safe base64 of 43 characters.
TOKEN_BYTES = 32
# How much of a token lists show, enough to tell tokens apart and to recognise a leaked one.
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend a verification's time when the account does not exist, so that response times
    do not reveal who has an account."""
    verify_password(_dummy_hash(), password)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """The stored form of a token: a SHA-256 hex digest (tokens carry 256 random bits, so no
    salt or slow hash is needed, and lookups stay one indexed equality)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
