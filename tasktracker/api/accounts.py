"""Account and token routes of SPEC §4."""

from __future__ import annotations

from typing import Any

from flask import Response

from tasktracker.api.blueprint import (
    basic_auth_user,
    blp,
    body,
    current_user,
    errors,
    json_body,
    security,
)
from tasktracker.http_extensions import auth_rate_limit
from tasktracker.schemas import (
    NewTokenSchema,
    RegistrationSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
)
from tasktracker.services import accounts as service


@blp.route("/users", methods=["POST"], tags=["accounts"])
@auth_rate_limit()
@security([])
@body(RegistrationSchema)
@errors(400, 403, 409, 413, 415, 422)
@blp.response(201, UserSchema)
def register() -> Any:
    """Register an account

    Open unless the operator set `REGISTRATION_OPEN=false` (then 403).
    """
    return service.register_user(json_body())


@blp.route("/tokens", methods=["POST"], tags=["accounts"])
@auth_rate_limit()
@security([{"basicAuth": []}])
@body(TokenRequestSchema, required=False)
@errors(400, 401, 413, 415, 422)
@blp.response(201, NewTokenSchema)
def create_token() -> Any:
    """Create an API token

    Authenticate with HTTP Basic (email and password). The token is shown only in this
    response; it is stored as a SHA-256 digest.
    """
    token = service.issue_token(basic_auth_user(), json_body(optional=True))
    return token, 201, {"Cache-Control": "no-store"}  # it carries the secret


@blp.route("/tokens", methods=["GET"], tags=["accounts"])
@errors(401)
@blp.response(200, TokenSchema(many=True))
def list_tokens() -> Any:
    """The caller's tokens that are not revoked, expired ones included (never their secrets)"""
    return service.list_tokens(current_user())


@blp.route("/tokens/<id:token_id>", methods=["DELETE"], tags=["accounts"])
@errors(401, 404)
@blp.response(204)
def revoke_token(token_id: int) -> Any:
    """Revoke a token at once"""
    service.revoke_token(current_user(), token_id)
    return Response(status=204)


@blp.route("/me", methods=["GET"], tags=["accounts"])
@errors(401)
@blp.response(200, UserSchema)
def me() -> Any:
    """The caller's account"""
    return current_user()
