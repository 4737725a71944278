"""The raw twin of three API routes, for `flask bench http`: a bare WSGI callable on one
psycopg2 connection per process, no Flask, no SQLAlchemy on its requests.

It answers `GET /api/tasks/<id>`, `GET /api/tasks` (the first page in the default order
only) and `POST /api/tasks` with the bytes the application sends, so that the benchmark can
set the application's cost against what the same rows cost through bare psycopg2. Run it as
`gunicorn -c deploy/gunicorn.conf.py tasktracker.bench.twin:app` with the application's
DATABASE_URL. What it does not serve it refuses; it is a yardstick, not an API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2.extras import Json

from tasktracker.config import load_config
from tasktracker.pagination import Page, encode_cursor, link_header, page_links
from tasktracker.security import token_digest
from tasktracker.services.accounts import LAST_USED_RESOLUTION

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

PER_PAGE = 20
MAX_BODY_BYTES = 1024 * 1024
TASKS_PATH = "/api/tasks"
_TASK_PATH = re.compile(r"/api/tasks/([1-9][0-9]{0,18})")
_MAX_ID = 2**63 - 1
_WRITABLE = frozenset({"title", "description", "priority", "tags"})

# A task's columns, and its tag names in order, as TaskSchema reads them.
_FIELDS = ("id", "title", "description", "priority", "status", "completed_at", "due_at",
           "created_at", "updated_at", "deleted_at", "version")  # fmt: skip
_TAG_NAMES = """ARRAY(SELECT g.name FROM task_tags l JOIN tags g ON g.id = l.tag_id
                      WHERE l.task_id = t.id ORDER BY g.name COLLATE "C")"""
_TASK_COLUMNS = ", ".join([*(f"t.{name}" for name in _FIELDS), _TAG_NAMES])
_TOKEN = """
    SELECT k.id, k.user_id, k.revoked_at, k.expires_at, k.last_used_at
    FROM api_tokens k JOIN users u ON u.id = k.user_id WHERE k.token_hash = %s
"""
_TASK = f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.id = %s AND t.owner_id = %s"
_FIRST_PAGE = f"""
    SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.owner_id = %s AND t.deleted_at IS NULL
    ORDER BY t.created_at DESC, t.id DESC LIMIT {PER_PAGE}
"""
# The owner's counters (kept by triggers on tasks), as the application reads its total.
_LIVE_COUNT = """
    SELECT coalesce(sum(tasks), 0)::bigint FROM task_counts WHERE owner_id = %s AND NOT in_trash
"""
_INSERT_TASK = f"""
    INSERT INTO tasks (owner_id, title, description, priority, status, created_at,
                       updated_at, version)
    VALUES (%s, %s, %s, %s, 'pending', %s, %s, 1) RETURNING {", ".join(_FIELDS)}
"""
# The tags upserted (an existing one returned too) and linked, in one statement.
_TAG_TASK = """
    WITH tag AS (
        INSERT INTO tags (owner_id, name) SELECT %s, unnest(%s::varchar[])
        ON CONFLICT (owner_id, name) DO UPDATE SET name = excluded.name
        RETURNING id, name
    ), linked AS (INSERT INTO task_tags (task_id, tag_id) SELECT %s, id FROM tag)
    SELECT name FROM tag ORDER BY name COLLATE "C"
"""
_INSERT_EVENT = """
    INSERT INTO task_events (task_id, at, kind, message, data)
    VALUES (%s, %s, 'created', 'Created.', %s)
"""

_connection: psycopg2.extensions.connection | None = None


class Refusal(Exception):
    """A request the twin answers with an error in the API's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def app(environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point: routes, then answers in JSON; a lost connection is a 503."""
    global _connection
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    try:
        if path == "/health/live":
            return _respond(start_response, 200, {"status": "ok"})
        task_path = _TASK_PATH.fullmatch(path)
        if path == TASKS_PATH and method == "GET":
            return _list_first_page(environ, start_response)
        if path == TASKS_PATH and method == "POST":
            return _create(environ, start_response)
        if task_path and int(task_path.group(1)) <= _MAX_ID and method == "GET":
            return _get(environ, start_response, int(task_path.group(1)))
        if path == TASKS_PATH or task_path:
            raise Refusal(405, "method_not_allowed", "The twin does not serve this method.")
        raise Refusal(404, "not_found", "No such resource.")
    except Refusal as refusal:
        body = {"code": refusal.code, "error": refusal.message, "status": refusal.status}
        return _respond(start_response, refusal.status, body)
    except psycopg2.Error:
        # Reconnect on the next request rather than serve from a broken connection.
        if _connection is not None:
            _connection.close()
        _connection = None
        body = {"code": "service_unavailable", "error": "The database failed.", "status": 503}
        return _respond(start_response, 503, body)


def _database() -> psycopg2.extensions.connection:
    """This process's connection, opened on first use (so after gunicorn forks): reads run
    in autocommit, each write in one explicit transaction."""
    global _connection
    if _connection is None:
        url = load_config("")["SQLALCHEMY_DATABASE_URI"]
        if not url.startswith("postgresql+psycopg2://"):
            raise RuntimeError("the twin runs on PostgreSQL only: set DATABASE_URL")
        _connection = psycopg2.connect(url.replace("+psycopg2", "", 1), connect_timeout=10)
        _connection.autocommit = True
    return _connection


def _user_id(environ: Mapping[str, Any]) -> int:
    """The owner of the request's bearer token, live as the application requires (not
    revoked, not expired); records its use at most once a minute, as the application does."""
    scheme, _, secret = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    row = None
    if scheme.lower() == "bearer" and secret.strip():
        with _database().cursor() as cursor:
            cursor.execute(_TOKEN, (token_digest(secret.strip()),))
            row = cursor.fetchone()
    now = datetime.now(UTC)
    token_id, user_id, revoked_at, expires_at, last_used_at = row or (None,) * 5
    if row is None or revoked_at is not None or (expires_at is not None and expires_at <= now):
        raise Refusal(401, "unauthorized", "Send a valid API token: Authorization: Bearer <token>.")
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        with _database().cursor() as cursor:
            cursor.execute("UPDATE api_tokens SET last_used_at = %s WHERE id = %s", (now, token_id))
    return user_id


def _get(environ: Mapping[str, Any], start_response: StartResponse, task_id: int) -> list[bytes]:
    user_id = _user_id(environ)
    with _database().cursor() as cursor:
        cursor.execute(_TASK, (task_id, user_id))
        row = cursor.fetchone()
    if row is None:
        raise Refusal(404, "task_not_found", "No such task.")
    task = _task(row)
    return _respond(start_response, 200, task, [("ETag", f'"{task["version"]}"')])


def _list_first_page(environ: Mapping[str, Any], start_response: StartResponse) -> list[bytes]:
    if environ.get("QUERY_STRING"):
        raise Refusal(400, "invalid_query", "The twin serves the first page, default order only.")
    user_id = _user_id(environ)
    with _database().cursor() as cursor:
        cursor.execute(_FIRST_PAGE, (user_id,))
        rows = cursor.fetchall()
        cursor.execute(_LIVE_COUNT, (user_id,))
        (total,) = cursor.fetchone()
    has_next = len(rows) == PER_PAGE and total > PER_PAGE
    next_cursor = None
    if has_next:
        last = rows[-1]
        next_cursor = encode_cursor("-created_at,-id", [_utc(last[7]), last[0]], 2)
    page = Page([_task(row) for row in rows], total, 1, PER_PAGE, has_next, next_cursor)
    links = page_links(page, _base_url(environ), {})
    body = {
        "items": page.items,
        "total": total,
        "total_exact": True,
        "page": 1,
        "per_page": PER_PAGE,
        "pages": page.pages,
    }
    return _respond(start_response, 200, body, [("Link", link_header(links))])


def _create(environ: Mapping[str, Any], start_response: StartResponse) -> list[bytes]:
    """Inserts the task, its tags and its `created` event in one transaction."""
    user_id = _user_id(environ)
    fields = _task_fields(environ)
    now = datetime.now(UTC)
    tags = fields["tags"]
    connection = _database()
    with connection, connection.cursor() as cursor:
        cursor.execute(
            _INSERT_TASK,
            (user_id, fields["title"], fields["description"], fields["priority"], now, now),
        )
        inserted = cursor.fetchone()
        task_id = inserted[0]
        linked: list[str] = []
        if tags:
            cursor.execute(_TAG_TASK, (user_id, tags, task_id))
            linked = [name for (name,) in cursor.fetchall()]
        logged = {
            "title": fields["title"],
            "priority": fields["priority"],
            "status": "pending",
            "due_at": None,
            "tags": tags,
        }
        cursor.execute(_INSERT_EVENT, (task_id, now, Json(logged)))
    task = _task((*inserted, linked))
    headers = [("Location", task["url"]), ("ETag", f'"{task["version"]}"')]
    return _respond(start_response, 201, task, headers)


def _task_fields(environ: Mapping[str, Any]) -> dict[str, Any]:
    """The body's fields, checked only as far as the benchmark's body needs (a title, a
    priority, tags lower-cased, unique and sorted as the application stores them)."""
    if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        raise Refusal(415, "unsupported_media_type", "The request body must be JSON.")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY_BYTES:
        raise Refusal(413, "payload_too_large", "The request body is too large.")
    try:
        data = json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        raise Refusal(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict) or not _WRITABLE.issuperset(data):
        raise Refusal(422, "validation_failed", f"The twin takes only {sorted(_WRITABLE)}.")
    title, priority, tags = data.get("title"), data.get("priority", 3), data.get("tags", [])
    if not isinstance(title, str) or not title.strip():
        raise Refusal(422, "validation_failed", "Invalid fields: title.")
    if type(priority) is not int or not 1 <= priority <= 5:
        raise Refusal(422, "validation_failed", "Invalid fields: priority.")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise Refusal(422, "validation_failed", "Invalid fields: tags.")
    if not isinstance(data.get("description", ""), str):
        raise Refusal(422, "validation_failed", "Invalid fields: description.")
    return {
        "title": title.strip(),
        "description": data.get("description", ""),
        "priority": priority,
        "tags": sorted({tag.strip().lower() for tag in tags}),
    }


def _task(row: Sequence[Any]) -> dict[str, Any]:
    """A task's columns (_FIELDS) and tag names as TaskSchema dumps them."""
    task = dict(zip((*_FIELDS, "tags"), row, strict=True))
    times = ("completed_at", "due_at", "created_at", "updated_at", "deleted_at")
    return {
        **task,
        **{name: _utc(task[name]) for name in times},
        "completed": task["status"] == "completed",
        "tags": list(task["tags"]),
        "url": f"{TASKS_PATH}/{task['id']}",
    }


def _utc(value: datetime | None) -> str | None:
    """A time as the application writes it: in UTC, ISO 8601 with its offset."""
    return None if value is None else value.astimezone(UTC).isoformat()


def _base_url(environ: Mapping[str, Any]) -> str:
    """The request's URL without its query, as Werkzeug's `request.base_url` spells it."""
    scheme = environ["wsgi.url_scheme"]
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    default_port = {"http": ":80", "https": ":443"}[scheme]
    host = host.removesuffix(default_port)
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{environ['PATH_INFO']}"


def _respond(
    start_response: StartResponse,
    status: int,
    body: Any,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """JSON as Flask's default provider writes it: sorted keys, ASCII, compact, a newline."""
    payload = (
        json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":")) + "\n"
    ).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            *(headers or []),
        ],
    )
    return [payload]
