"""Logs as one JSON object per line on stdout, each carrying the request id; the id is taken
from `X-Request-ID` when the proxy sent a sane one and returned on every response."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")
# What every LogRecord carries: anything else on a record came as `extra` and is logged.
_RECORD_ATTRIBUTES = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime", "request_id"}
)


class JsonLines(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, request_id,
    pid, then the record's `extra` fields, and the traceback if any. Messages are plain:
    werkzeug styles its development server's lines for a terminal (" * Running on ..." in
    bold), which a log line must not carry."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if "\x1b" in message:
            message = _TERMINAL_STYLE.sub("", message)
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "request_id": getattr(record, "request_id", None),
            "pid": record.process,
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES:
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


def configure_logging(app: Flask) -> None:
    """One JSON handler on the root logger, so the app's, the worker's and the libraries'
    records all come out the same way."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLines())
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
        g.request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        if not access.isEnabledFor(logging.INFO):  # LOG_LEVEL above INFO: nothing to build
            return response
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
