"""The check `flask bench http` makes before it measures anything: the twin answers with
the application's bytes, or the comparison between them means nothing."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import click

REQUEST_SECONDS = 30
# Both servers are asked with this Host, so that the links they build name the same server.
HOST = "127.0.0.1"
COMPARED_HEADERS = ("Content-Type", "ETag", "Link", "Location")
# What two creates must differ in; each such value is replaced by "..." before comparing.
CREATED_FIELDS = ("id", "url", "created_at", "updated_at")
_CONTEXT_BYTES = 60


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(port: int, method: str, path: str, token: str, body: bytes | None = None) -> Reply:
    """One request to 127.0.0.1:`port` with the bearer token (and a JSON body, if any)."""
    headers = {"Host": HOST, "Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def check_twin(
    app_port: int, twin_port: int, token: str, task_ids: Sequence[int], post_body: bytes
) -> list[str]:
    """Asks both servers the same requests and raises a ClickException naming the first
    difference: a task (for each of `task_ids`) and the first page must be identical
    bytes with the same headers; a create must be identical but for CREATED_FIELDS and
    Location, read back through the application as the twin answered it, and logged
    alike. Returns what was compared, for the report."""
    compared = []
    for path in [*(f"/api/tasks/{task_id}" for task_id in task_ids), "/api/tasks"]:
        app, twin = fetch(app_port, "GET", path, token), fetch(twin_port, "GET", path, token)
        _require_ok(f"GET {path}", app, 200)
        require_same(f"GET {path}", app, twin)
        compared.append(f"GET {path}")

    app = fetch(app_port, "POST", "/api/tasks", token, post_body)
    twin = fetch(twin_port, "POST", "/api/tasks", token, post_body)
    _require_ok("POST /api/tasks (app)", app, 201)
    _require_ok("POST /api/tasks (twin)", twin, 201)
    for name, reply in (("app", app), ("twin", twin)):
        if reply.headers.get("Location") != json.loads(reply.body)["url"]:
            raise click.ClickException(
                f"POST /api/tasks ({name}): Location {reply.headers.get('Location')!r} is not "
                "the created task's url"
            )
    require_same("POST /api/tasks, created fields aside", normalised(app), normalised(twin))
    created = json.loads(twin.body)["url"]
    reread = fetch(app_port, "GET", created, token)
    _require_ok(f"GET {created}", reread, 200)
    require_same(
        f"the twin's create, and its task read through the application (GET {created})",
        reread,
        twin,
        headers=("Content-Type", "ETag"),
        status=False,
    )
    logs = [
        fetch(app_port, "GET", json.loads(reply.body)["url"] + "/events", token)
        for reply in (app, twin)
    ]
    for log in logs:
        _require_ok("GET /api/tasks/<id>/events", log, 200)
    require_same(
        "the two creates' events (GET /api/tasks/<id>/events), ids and times aside",
        *(normalised(log, ("id", "at")) for log in logs),
        headers=(),
    )
    compared.append("POST /api/tasks, the task read back and its event")
    return compared


def _require_ok(what: str, reply: Reply, status: int) -> None:
    """The reply must have this status; its body's start is shown if not."""
    if reply.status != status:
        raise click.ClickException(
            f"{what} answered {reply.status}, not {status}: {reply.body[:300]!r}"
        )


def require_same(
    what: str,
    app: Reply,
    twin: Reply,
    headers: Sequence[str] = COMPARED_HEADERS,
    *,
    status: bool = True,
) -> None:
    """The status (unless `status` is false), the headers named and the body's bytes must
    be equal."""
    if status and app.status != twin.status:
        raise click.ClickException(f"{what}: the app answered {app.status}, the twin {twin.status}")
    for name in headers:
        if app.headers.get(name) != twin.headers.get(name):
            raise click.ClickException(
                f"{what}: the {name} headers differ:\n"
                f"  app:  {app.headers.get(name)!r}\n  twin: {twin.headers.get(name)!r}"
            )
    if app.body != twin.body:
        at = next(
            (i for i, (a, b) in enumerate(zip(app.body, twin.body, strict=False)) if a != b),
            min(len(app.body), len(twin.body)),
        )
        start = max(0, at - _CONTEXT_BYTES)
        raise click.ClickException(
            f"{what}: the bodies differ from byte {at} on "
            f"({len(app.body)} bytes from the app, {len(twin.body)} from the twin; "
            f"shown from byte {start}):\n"
            f"  app:  {app.body[start : at + _CONTEXT_BYTES]!r}\n"
            f"  twin: {twin.body[start : at + _CONTEXT_BYTES]!r}"
        )


def normalised(reply: Reply, fields: Sequence[str] = CREATED_FIELDS) -> Reply:
    """The reply with each of these fields' values (a string or a number, wherever the
    field occurs in the body) and its Location replaced by "..."."""
    body = reply.body
    for name in fields:
        field = json.dumps(name).encode()
        body = re.sub(rb'%s:(?:"[^"]*"|-?[0-9]+)' % field, b'%s:"..."' % field, body)
    headers = {**reply.headers, "Location": "..."} if "Location" in reply.headers else reply.headers
    return Reply(reply.status, headers, body)
