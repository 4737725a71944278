"""The JSON API blueprint: bearer-token authentication, request parsing and documentation
helpers shared by its views. Views parse, call one service, dump."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import BadRequest as WerkzeugBadRequest

from tasktracker.database import without_transaction
from tasktracker.errors import BY_STATUS, BadRequest, Unauthorized, UnsupportedMediaType
from tasktracker.http_extensions import IdConverter, limiter
from tasktracker.models import User
from tasktracker.pagination import Page, link_header, page_links
from tasktracker.schemas import ErrorSchema
from tasktracker.security import token_digest
from tasktracker.services import accounts as account_service
from tasktracker.services.accounts import Account

F = TypeVar("F", bound=Callable[..., Any])
_VERSION_TAG = re.compile(r"[0-9]{1,9}")


class TaskTrackerApi(Api):
    """flask-smorest's Api documenting errors in the §6 shape, without its app-wide
    HTTPException handler: that one answers every error in JSON, HTML pages too, and drops
    `Allow` on 405; tasktracker.errors registers the one dispatcher instead."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


# The extension object lives here rather than in tasktracker.extensions: its error schema
# comes from tasktracker.schemas, which depends on the extensions.
rest_api = TaskTrackerApi()
rest_api.register_converter(
    IdConverter, lambda converter: {"type": "integer", "minimum": 1, "maximum": IdConverter.MAX}
)
blp = Blueprint("api", __name__, url_prefix="/api", description="The Task Tracker JSON API.")

# Default-deny: every API endpoint wants a bearer token except these.
PUBLIC_ENDPOINTS = frozenset({"api.register"})
BASIC_AUTH_ENDPOINTS = frozenset({"api.create_token"})


def current_user() -> Account:
    """The user the request's bearer token belongs to."""
    return g.api_user


@blp.before_request
def authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint in BASIC_AUTH_ENDPOINTS:
        return
    if request.method in ("GET", "HEAD"):
        without_transaction()  # a read: no BEGIN and ROLLBACK round trips
    auth = request.authorization
    user = None
    if auth is not None and auth.type == "bearer" and auth.token:
        user = account_service.user_for_token(auth.token)
    if user is None:
        raise Unauthorized(
            "Send a valid API token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    g.api_user = user


def basic_auth_user() -> User:
    """The user whose email and password came in HTTP Basic credentials."""
    auth = request.authorization
    user = None
    if auth is not None and auth.type == "basic" and auth.username and auth.password:
        user = account_service.authenticate(auth.username, auth.password)
    if user is None:
        raise Unauthorized(
            "Send your email and password with HTTP Basic authentication.",
            headers={"WWW-Authenticate": 'Basic realm="api", charset="UTF-8"'},
        )
    return user


def rate_limit_key() -> str:
    """One bucket per bearer token when one is sent (keyed by its digest), else per address."""
    auth = request.authorization
    if auth is not None and auth.type == "bearer" and auth.token:
        return "token:" + token_digest(auth.token)
    return "ip:" + get_remote_address()


# One bucket for the whole API (a limit on a blueprint is otherwise one bucket per route).
limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_API"], scope="api", key_func=rate_limit_key
)(blp)


def json_body(*, optional: bool = False) -> Any:
    """The request's JSON document; 415 if it is not JSON, 400 if it does not parse.
    An `optional` body may be left out entirely, which reads as `{}`."""
    if optional and not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    try:
        return request.get_json()
    except (WerkzeugBadRequest, RecursionError):
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None


def if_match_versions() -> list[int] | None:
    """The task versions an `If-Match` header accepts; None when it is absent or `*`."""
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return None
    tags = request.if_match.as_set()
    return [int(tag) for tag in tags if isinstance(tag, str) and _VERSION_TAG.fullmatch(tag)]


def paged(page: Page[Any]) -> tuple[Page[Any], dict[str, str]]:
    """A page and its Link header (first, prev, next, last), keeping the query's filters."""
    return page, {"Link": link_header(page_links(page, request.base_url, request.args))}


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


# --- OpenAPI helpers ---------------------------------------------------------------------


def body(schema: Any, *, required: bool = True) -> Callable[[F], F]:
    """Document a JSON request body (the service, not the view, loads it)."""
    return blp.doc(
        requestBody={"required": required, "content": {"application/json": {"schema": schema}}}
    )


def query(schema: Any) -> Callable[[F], F]:
    """Document query parameters (the service loads them)."""
    return blp.doc(parameters=[{"in": "query", "schema": schema}])


def errors(*statuses: int) -> Callable[[F], F]:
    """Document the §6 error responses an operation can give, besides 429 and 500."""

    def decorate(view: F) -> F:
        for status in sorted({*statuses, 429, 500}, reverse=True):
            view = blp.alt_response(
                status, schema=ErrorSchema, description=BY_STATUS[status].message
            )(view)
        return view

    return decorate


def security(requirements: Iterable[dict[str, list[str]]]) -> Callable[[F], F]:
    return blp.doc(security=list(requirements))
