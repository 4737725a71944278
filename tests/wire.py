"""A PostgreSQL wire-protocol proxy that records every query the application sends: the
round trips a request costs, counted where they happen (BEGIN, COMMIT and pings included,
which SQLAlchemy's events do not all see).

psycopg2 speaks the simple query protocol: one `Query` message ('Q') per round trip. The
proxy forwards bytes both ways untouched and parses only the client's messages; connect to
it with `sslmode=disable`, or the stream would be encrypted.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


class QueryLog:
    """The queries sent through the proxy, in order, across all its connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: list[str] = []

    def add(self, query: str) -> None:
        with self._lock:
            self._queries.append(query)

    def clear(self) -> None:
        with self._lock:
            self._queries.clear()

    @property
    def queries(self) -> list[str]:
        with self._lock:
            return list(self._queries)


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _client_to_server(client: socket.socket, server: socket.socket, log: QueryLog) -> None:
    """Startup messages (no type byte) until the StartupMessage itself, then typed messages."""
    while True:
        (length,) = struct.unpack("!i", _read_exact(client, 4))
        body = _read_exact(client, length - 4)
        server.sendall(struct.pack("!i", length) + body)
        (code,) = struct.unpack("!i", body[:4])
        if code not in (_SSL_REQUEST, _GSS_REQUEST):
            break
    while True:
        header = _read_exact(client, 5)
        kind, length = header[:1], struct.unpack("!i", header[1:])[0]
        body = _read_exact(client, length - 4)
        if kind == b"Q":
            log.add(body.rstrip(b"\0").decode("utf-8", "replace"))
        elif kind in (b"P", b"E"):  # the extended protocol: a Parse or an Execute
            log.add(f"<extended {kind.decode()}>")
        server.sendall(header + body)


def _server_to_client(server: socket.socket, client: socket.socket) -> None:
    while chunk := server.recv(65536):
        client.sendall(chunk)


def _pipe(client: socket.socket, upstream: tuple[str, int], log: QueryLog) -> None:
    server = socket.create_connection(upstream, timeout=30)
    server.settimeout(None)
    back = threading.Thread(target=_close_after, args=(_server_to_client, server, client))
    back.daemon = True
    back.start()
    _close_after(_client_to_server, client, server, log)


def _close_after(run, *args) -> None:  # type: ignore[no-untyped-def]
    sockets = [a for a in args if isinstance(a, socket.socket)]
    try:
        run(*args)
    except (ConnectionError, OSError, struct.error):
        pass
    finally:
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextmanager
def query_counting_proxy(upstream: tuple[str, int]) -> Iterator[tuple[int, QueryLog]]:
    """A proxy on a free port of 127.0.0.1 to `upstream`; yields (port, log)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    log = QueryLog()
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=_pipe, args=(client, upstream, log), daemon=True)
            thread.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1], log
    finally:
        stopping.set()
        with contextlib.suppress(OSError):  # wakes the accept() under way; close() does not
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(timeout=5)
