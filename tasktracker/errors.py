"""Domain errors and the one dispatcher that answers every error: JSON under /api/ and the
operations routes (SPEC §6), an HTML page everywhere else."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, SecurityError

from tasktracker.database import end_session

log = logging.getLogger(__name__)

Details = Mapping[str, Sequence[str]]


class AppError(Exception):
    """An error a client can act on; carries the §6 status, code and sentence."""

    status: int = 500
    code: str = "internal_error"
    message: str = "Something went wrong on our side; it has been logged."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Details | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.details = dict(details) if details else None
        self.headers = dict(headers or {})


class BadRequest(AppError):
    status, code, message = 400, "bad_request", "The request is malformed."


class InvalidQuery(BadRequest):
    code, message = "invalid_query", "A query parameter is unknown or has a bad value."


class Unauthorized(AppError):
    status, code, message = 401, "unauthorized", "Missing or invalid credentials."


class Forbidden(AppError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class NotFound(AppError):
    status, code, message = 404, "not_found", "No such resource."


class Conflict(AppError):
    status, code, message = 409, "conflict", "The request conflicts with the resource's state."


class TaskInTrash(Conflict):
    code, message = "task_deleted", "The task is in the trash; restore it first."


class PreconditionFailed(AppError):
    status, code, message = (
        412,
        "precondition_failed",
        "The resource has changed since you read it (If-Match is stale).",
    )


class StaleVersion(PreconditionFailed):
    """A change asked for under If-Match, of a task at another version: the answer carries
    the version it is at, as its ETag."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"The task is at version {version}; re-read it and retry.",
            headers={"ETag": f'"{version}"'},
        )


class UnsupportedMediaType(AppError):
    status, code, message = 415, "unsupported_media_type", "The request body must be JSON."


class ValidationFailed(AppError):
    status, code, message = 422, "validation_failed", "The request has invalid fields."


class ServiceUnavailable(AppError):
    status, code, message = 503, "service_unavailable", "A dependency is unavailable."


# Answers to what werkzeug raises (routing, size limits, rate limits).
class MethodNotAllowed(AppError):
    status, code, message = (
        405,
        "method_not_allowed",
        "This method is not allowed on this resource.",
    )


class NotAcceptable(AppError):
    status, code, message = 406, "not_acceptable", "This resource can only answer with JSON."


class PayloadTooLarge(AppError):
    status, code, message = 413, "payload_too_large", "The request body is too large."


class UriTooLong(AppError):
    status, code, message = 414, "uri_too_long", "The request URL is too long."


class RateLimited(AppError):
    status, code, message = 429, "rate_limited", "Too many requests; slow down and retry later."


class HeadersTooLarge(AppError):
    status, code, message = 431, "headers_too_large", "The request headers are too large."


# The error of each status: its code and sentence answer werkzeug's exceptions of that
# status, and describe the status in the OpenAPI document.
BY_STATUS: dict[int, type[AppError]] = {
    error.status: error
    for error in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UriTooLong,
        UnsupportedMediaType,
        ValidationFailed,
        RateLimited,
        HeadersTooLarge,
        AppError,
        ServiceUnavailable,
    )
}


# How long a client is asked to wait before retrying after a 503.
RETRY_AFTER_SECONDS = "5"


OPERATIONS_PATHS = ("/health", "/metrics")


def wants_json(path: str) -> bool:
    """JSON for the API and the operations routes, HTML for the pages."""
    return (
        path == "/api"
        or path.startswith("/api/")
        or any(path == p or path.startswith(p + "/") for p in OPERATIONS_PATHS)
    )


def error_response(
    status: int,
    code: str,
    message: str,
    details: Details | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """Render one error as JSON (with any `extra` members) or HTML, as the path calls for."""
    if wants_json(request.path):
        body: dict[str, Any] = {**(extra or {}), "error": message, "code": code, "status": status}
        if details:
            body["details"] = {field: list(messages) for field, messages in details.items()}
        body["request_id"] = g.get("request_id")
        response = jsonify(body)
    else:
        response = current_app.make_response(
            render_template(
                "errors/error.html",
                status=status,
                title=HTTPStatus(status).phrase,
                message=message,
                request_id=g.get("request_id"),
            )
        )
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_app_error(error: AppError) -> Response:
    return error_response(error.status, error.code, error.message, error.details, error.headers)


def handle_csrf_error(error: HTTPException) -> Response:
    return error_response(
        400,
        "csrf_failed",
        "This form has expired or did not come from this site. "
        "Go back, reload the page and send it again.",
    )


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return handle_unexpected(error)
    if isinstance(error, SecurityError):
        return _untrusted_host()
    known = BY_STATUS.get(status)
    code, message = (
        (known.code, known.message) if known else ("http_error", HTTPStatus(status).phrase + ".")
    )
    # Keep the headers the exception carries (Allow on 405, Retry-After on 429...).
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return error_response(status, code, message, headers=headers)


def _untrusted_host() -> Response:
    """A request naming a host not in TRUSTED_HOSTS. No URL can be built for it (Flask has no
    URL adapter for a host it does not serve), so a page is the bare one, without the layout."""
    message = "This site does not answer to that host name."
    if wants_json(request.path):
        return error_response(400, "untrusted_host", message)
    page = render_template("errors/bare.html", status=400, title="Bad Request", message=message)
    return Response(page, status=400, mimetype="text/html")


def handle_database_unavailable(error: OperationalError) -> Response:
    """PostgreSQL could not do it for now (unreachable, restarting, the connection lost, a
    deadlock, a timeout): 503, retry shortly."""
    end_session()  # its connection may be dead
    current_app.logger.warning(
        "database unavailable (%s)", type(error.orig).__name__, exc_info=error
    )
    return handle_app_error(
        ServiceUnavailable(
            "The database is unavailable for now; retry shortly.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    )


def handle_unexpected(error: BaseException) -> Response:
    """Any exception a view let through: roll back, log it whole, answer without details."""
    end_session()  # its connection may be dead
    current_app.logger.exception("unhandled error", exc_info=error)
    return error_response(500, AppError.code, AppError.message)


class LastResort:
    """The app's outermost WSGI layer. An exception that escapes Flask's own handling (one
    raised while a request's context ends, after its response was decided) is logged and
    answered in the §6 shape: JSON, or a plain page for the pages; never the WSGI server's
    own page. There is no request context left: no template, no request id of its own."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return self.wsgi_app(environ, start_response)
        except Exception:
            log.exception("an error escaped the request's handling")
            if wants_json(environ.get("PATH_INFO", "")):
                error = {"error": AppError.message, "code": AppError.code, "status": 500}
                body = json.dumps({**error, "request_id": None}).encode()
                content_type = "application/json"
            else:
                body = _LAST_RESORT_PAGE.encode()
                content_type = "text/html; charset=utf-8"
            headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            start_response("500 INTERNAL SERVER ERROR", headers, sys.exc_info())
            return [body]


_LAST_RESORT_PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
    "<title>500 Internal Server Error · Task Tracker</title></head><body>"
    "<h1>500 · Internal Server Error</h1><p>Something went wrong on our side. Try again in "
    "a moment.</p></body></html>\n"
)


def register_error_handlers(app: Flask) -> None:
    """The HTTP side's handlers (create_app; Flask-WTF is imported with them, not with the
    domain errors above, which the worker uses too)."""
    from flask_wtf.csrf import CSRFError

    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.wsgi_app = LastResort(app.wsgi_app)  # type: ignore[method-assign]
    app.register_error_handler(Exception, handle_unexpected)
