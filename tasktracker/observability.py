"""Logs as one JSON object per line on stdout, each carrying the request id; the id is taken
from `X-Request-ID` when the proxy sent a sane one and returned on every response."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")


class _Formatter(JsonFormatter):
    """JSON lines with plain messages: werkzeug styles its development server's lines for a
    terminal (" * Running on ..." in bold), which a log line must not carry."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        message = log_data.get("message")
        if isinstance(message, str):
            log_data["message"] = _TERMINAL_STYLE.sub("", message)
        return log_data


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


def configure_logging(app: Flask) -> None:
    """One JSON handler on the root logger, so the app's, the worker's and the libraries'
    records all come out the same way."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        _Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "process": "pid",
            },
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for existing in [h for h in root.handlers if getattr(h, "_tasktracker", False)]:
        root.removeHandler(existing)
    handler._tasktracker = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"].upper())
    # Flask's own handler would print every record a second time, as plain text.
    app.logger.handlers.clear()
    app.logger.propagate = True


def register_request_logging(app: Flask) -> None:
    access = logging.getLogger("tasktracker.access")

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        started = g.get("request_started")
        access.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                if started
                else None,
                "remote_addr": request.remote_addr,
            },
        )
        return response
