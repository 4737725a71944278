"""gunicorn processes for `flask bench http`: started with the deployment's configuration on
free ports of 127.0.0.1, waited for, and always stopped, each as a whole process group."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import click

START_SECONDS = 60
STOP_SECONDS = 15
LOG_TAIL_LINES = 30
# What gunicorn's sync worker logs when it reaches max_requests (gunicorn/workers/sync.py).
RECYCLE_LINE = "Autorestarting worker after current request."


class Server:
    """One gunicorn master and its workers, in a process group of their own."""

    def __init__(self, name: str, target: str, env: Mapping[str, str], root: Path, log: Path):
        self.name = name
        self.log = log
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "deploy/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{self.port}",
            target,
        ]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=root,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_live(self, path: str, deadline: float) -> None:
        """Returns once `path` answers 200; a ClickException with the log's end if the
        server exits or the deadline passes first."""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.failure(f"exited with status {self.process.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    connection.request("GET", path)
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            time.sleep(0.2)
        raise self.failure(f"did not answer {path} within {START_SECONDS} s")

    def recycles(self) -> int:
        """How many times a worker has been told to restart after max_requests so far."""
        return self.log.read_text(errors="replace").count(RECYCLE_LINE)

    def failure(self, what: str) -> click.ClickException:
        lines = self.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return click.ClickException(
            f"the {self.name} server (gunicorn) {what}; the end of its log:\n" + "\n".join(lines)
        )

    def stop(self) -> None:
        """SIGTERM to the whole group, then SIGKILL if it is still there after STOP_SECONDS."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_SECONDS)


@contextmanager
def serving(
    targets: Mapping[str, tuple[str, str]], env: Mapping[str, str], root: Path, logs: Path
) -> Iterator[dict[str, Server]]:
    """Starts a gunicorn for each `name: (WSGI target, health path)`, all at once, and
    yields them by name once each answers its health path; stops them all on the way out,
    whatever happens."""
    servers: dict[str, Server] = {}
    try:
        for name, (target, _) in targets.items():
            metrics = logs / f"metrics-{name}"
            server_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
            servers[name] = Server(name, target, server_env, root, logs / f"{name}.log")
        deadline = time.monotonic() + START_SECONDS
        for name, (_, health) in targets.items():
            servers[name].wait_until_live(health, deadline)
        yield servers
    finally:
        for server in servers.values():
            server.stop()
