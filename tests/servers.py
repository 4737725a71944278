"""The application as operators run it: migrated with `flask db upgrade`, served by gunicorn
with deploy/gunicorn.conf.py, in processes of its own (for the browser and metrics tests)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
SERVER_START_SECONDS = 30


def app_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """The environment of an app process: this one's, less what would steer it elsewhere."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GUNICORN_", "FLASK_")) and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        {
            "TASKTRACKER_ENV": "testing",
            "SECRET_KEY": "test",
            "RATELIMIT_ENABLED": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            **overrides,
        }
    )
    return env


def migrate(env: Mapping[str, str]) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"flask db upgrade failed:\n{done.stdout}{done.stderr}", pytrace=False)


@contextmanager
def gunicorn(env: Mapping[str, str], log: Path, *, workers: int = 2) -> Iterator[str]:
    """gunicorn with the deployment's configuration on a free port of 127.0.0.1; yields the
    base URL once /health/live answers, and stops it afterwards."""
    port = _free_port()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "wsgi:app"],
            cwd=ROOT,
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    with _serving(process, port, log) as base_url:
        yield base_url


@contextmanager
def _serving(process: subprocess.Popen[bytes], port: int, log: Path) -> Iterator[str]:
    """The base URL of a server `process` on `port`, once /health/live answers there; the
    process is stopped afterwards."""
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_live(f"{base_url}/health/live", process, log)
        yield base_url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def deployment(directory: Path, database: str, *, workers: int = 2) -> Iterator[tuple[str, str]]:
    """The deployment as shipped, on a scratch database (`database`: its suffix): gunicorn behind
    nginx, trusting nginx's forwarded headers; yields (gunicorn's URL, nginx's URL)."""
    from tests.conftest import required_env, scratch_database  # conftest imports this module

    with scratch_database(database) as database_url:
        env = app_env(database_url, required_env("TEST_REDIS_URL"), PROXY_FIX_HOPS="1")
        migrate(env)
        with (
            gunicorn(env, directory / "gunicorn.log", workers=workers) as app_url,
            nginx(app_url, directory) as proxy_url,
        ):
            yield app_url, proxy_url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_until_live(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    name = Path(str(process.args[0])).name  # type: ignore[index]
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{name} exited with status {process.returncode} before serving; its log:\n"
                + _tail(log),
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(
        f"{url} did not answer within {SERVER_START_SECONDS} s; {name}'s log:\n" + _tail(log),
        pytrace=False,
    )


class RedisServer:
    """A redis-server of the test's own on a free port of 127.0.0.1, which the test may stop
    and start again (on the same port, empty, as after a restart without persistence)
    without touching the machine's Redis."""

    def __init__(self, log: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log_file:
            self.process = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                 "--save", "", "--appendonly", "no"],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        pytest.fail("redis-server did not start; its log:\n" + _tail(self.log), pytrace=False)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
        self.process = None


@contextmanager
def nginx(upstream: str, directory: Path) -> Iterator[str]:
    """nginx with the deployment's server block (deploy/nginx.conf) on a free port of
    127.0.0.1, in front of `upstream` (a base URL) and serving this checkout's static/;
    yields its base URL, and stops it afterwards."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is not installed (Debian: apt-get install nginx)", pytrace=False)
    port = _free_port()
    server = (
        (ROOT / "deploy" / "nginx.conf")
        .read_text()
        .replace("server web:8000 resolve;", f"server {upstream.removeprefix('http://')};")
        .replace("listen 80;", f"listen 127.0.0.1:{port};")
        .replace("/srv/tasktracker/static/", f"{ROOT / 'static'}/")
    )
    temp = directory / "nginx"
    temp.mkdir()
    # Run as root, nginx's workers would be `nobody`, who may not enter the test's
    # directories: they stay root (as the master already is).
    user = "user root root;" if os.geteuid() == 0 else ""
    config = temp / "nginx.conf"
    config.write_text(
        f"""
        {user}
        daemon off;
        worker_processes 1;
        pid {temp}/nginx.pid;
        error_log {temp}/error.log warn;
        events {{ worker_connections 256; }}
        http {{
            include /etc/nginx/mime.types;
            default_type application/octet-stream;
            access_log off;
            client_body_temp_path {temp}/client_body;
            proxy_temp_path {temp}/proxy;
            fastcgi_temp_path {temp}/fastcgi;
            uwsgi_temp_path {temp}/uwsgi;
            scgi_temp_path {temp}/scgi;
            {server}
        }}
        """
    )
    log = temp / "stderr.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, "-c", str(config), "-p", str(temp)], stdout=log_file, stderr=log_file
        )
    with _serving(process, port, log) as base_url:
        yield base_url
