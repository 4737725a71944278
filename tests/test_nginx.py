"""The shipped nginx in front of the shipped gunicorn (deploy/): slow clients hold no
gunicorn worker, nginx's own errors have the app's shape, and the headers a client could
forge are not passed on."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests import servers

WORKERS = 2
SLOW_CLIENTS = 3 * WORKERS
# How long each slow client trickles its body (a byte every TRICKLE_SECONDS), bounded.
TRICKLE_BYTES = 8
TRICKLE_SECONDS = 0.5


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(gunicorn's URL, nginx's URL) on a database of their own."""
    directory = tmp_path_factory.mktemp("deployment")
    with servers.deployment(directory, "nginx", workers=WORKERS) as urls:
        yield urls


def _slow_client(base_url: str, stop: threading.Event) -> None:
    """A POST that announces a body and sends it a byte at a time."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /api/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {TRICKLE_BYTES}\r\n\r\n".encode()
        )
        for _ in range(TRICKLE_BYTES):
            if stop.wait(TRICKLE_SECONDS):
                return
            try:
                sock.sendall(b" ")
            except OSError:  # the server answered (a 400: spaces are no JSON) and closed
                return


def _seconds_to_serve(url: str) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
    return time.monotonic() - started


def _while_slow_clients(base_url: str) -> float:
    """The slowest of a few requests for /health/live, while slow clients hold connections."""
    stop = threading.Event()
    clients = [
        threading.Thread(target=_slow_client, args=(base_url, stop)) for _ in range(SLOW_CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(TRICKLE_SECONDS)  # every slow client has sent its headers
        return max(_seconds_to_serve(base_url + "/health/live") for _ in range(5))
    finally:
        stop.set()
        for client in clients:
            client.join()


def test_slow_clients_hold_no_worker_behind_nginx(deployment: tuple[str, str]) -> None:
    app_url, proxy_url = deployment
    through_nginx = _while_slow_clients(proxy_url)
    direct = _while_slow_clients(app_url)
    print(f"/health/live with {SLOW_CLIENTS} slow clients: through nginx {through_nginx:.3f} s,"
          f" straight to gunicorn {direct:.3f} s")  # fmt: skip
    assert through_nginx < 0.5
    # Why nginx is in front: reached directly, the sync workers wait on the slow bodies.
    assert direct > 1.0


def _request(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, **kwargs)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def _raw(base_url: str, request: bytes) -> tuple[str, bytes]:
    """Sends `request` as it is; returns the status line and the rest of the response."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        response = b""
        # Until the response is whole (its Content-Length read), not until nginx closes:
        # after a 413 it waits for the body it refused (lingering close, seconds).
        while not _whole(response) and (chunk := sock.recv(65536)):
            response += chunk
    status, _, rest = response.partition(b"\r\n")
    return status.decode(), rest


def _whole(response: bytes) -> bool:
    head, found, body = response.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)\r?$", head)
    return bool(found and length and len(body) >= int(length.group(1)))


def _announce_large_body(base_url: str, path: str, content_type: str) -> tuple[str, bytes]:
    """Sends only the headers of a 3 MiB POST (nginx answers from the Content-Length)."""
    return _raw(
        base_url,
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {3 * 1024 * 1024}\r\nConnection: close\r\n\r\n".encode(),
    )


BEYOND_BUFFERS = b"a" * 40_000  # nginx's large_client_header_buffers are 32 KiB each


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /api/tasks?q=" + BEYOND_BUFFERS + b" HTTP/1.1\r\nHost: x\r\n", 414, "uri_too_long"),
        (b"GET /tasks HTTP/1.1\r\nHost: x\r\nCookie: " + BEYOND_BUFFERS + b"\r\n", 431,
         "headers_too_large"),
        (b"NOT HTTP AT ALL\r\n", 400, "bad_request"),
        (b"GET /api/tasks HTTP/1.1\r\n", 400, "bad_request"),  # HTTP/1.1 without Host
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", 404, "not_found"),
        (b"GET /static/missing.css HTTP/1.1\r\nHost: x\r\n", 404, "not_found"),
        (b"GET /.nginx/400.json HTTP/1.1\r\nHost: x\r\n", 404, "not_found"),
        (b"TRACE /api/tasks HTTP/1.1\r\nHost: x\r\n", 405, "method_not_allowed"),
    ],
)  # fmt: skip
def test_what_nginx_answers_itself_has_the_apps_shape(
    deployment: tuple[str, str], request_bytes: bytes, status: int, code: str
) -> None:
    status_line, rest = _raw(deployment[1], request_bytes + b"Connection: close\r\n\r\n")
    assert status_line.split(" ")[1] == str(status)
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in headers
    answer = json.loads(body)
    assert (answer["status"], answer["code"]) == (status, code)
    assert set(answer) == {"error", "code", "status", "request_id"}
    if status == 405:  # the app's answer, naming what the resource allows
        allowed = re.search(rb"\r\nAllow: ([^\r]*)", headers)
        assert allowed
        assert set(allowed.group(1).decode().split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_a_body_too_large_for_nginx_is_answered_in_the_apps_shape(
    deployment: tuple[str, str],
) -> None:
    _, proxy_url = deployment
    status, rest = _announce_large_body(proxy_url, "/api/tasks", "application/json")
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert b"Content-Type: application/json" in rest
    assert b'"code": "payload_too_large", "status": 413' in rest
    status, rest = _announce_large_body(
        proxy_url, "/tasks/new", "application/x-www-form-urlencoded"
    )
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert b"Content-Type: text/html" in rest
    assert b"too large" in rest


def test_what_nginx_passes_on_and_says(deployment: tuple[str, str]) -> None:
    _, proxy_url = deployment
    forged = {"X-Forwarded-Prefix": "//evil.example", "X-Forwarded-Host": "evil.example"}
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(urllib.request.Request(proxy_url + "/tasks", headers=forged), timeout=30)
    with redirect.value as response:
        assert response.code == 302
        assert response.headers["Location"].startswith("/signin")
    status, headers, _ = _request(proxy_url + "/static/favicon.svg")
    assert status == 200
    assert headers["Server"] == "nginx"  # no version
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
