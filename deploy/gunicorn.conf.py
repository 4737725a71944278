"""gunicorn settings for Task Tracker: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

The application itself is configured by its own environment variables (README.md); these
are the web server's, and may be overridden on the command line.
"""

import multiprocessing
import os
import shutil
from pathlib import Path

from gunicorn import glogging

# Sync workers serve one request at a time each, so a client sending slowly holds one:
# they belong behind a proxy that reads requests whole (deploy/nginx.conf). Hence only
# this machine by default; in a container, where nginx is another host, GUNICORN_BIND
# opens it (docker-compose.yml).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: on this stack they gave the best p99 on database routes (gthread showed
# 0.1–1.5 s spikes). gunicorn reads WEB_CONCURRENCY itself; this is the default.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
# No request-line or header-size limit of gunicorn's own: it would answer an over-long
# URL or header with an HTML page of its own, where the app answers every request in its
# shape (SPEC §6). Both are bounded in front of it (deploy/nginx.conf: 32 KiB), and
# gunicorn listens on 127.0.0.1 unless told otherwise.
limit_request_line = 0
limit_request_field_size = 0
keepalive = 5
# The application is imported once, in the arbiter, and forked into each worker: workers
# share its memory (copy-on-write), and a worker that is replaced starts in milliseconds
# instead of importing the application again. No database or Redis connection is opened
# at import; post_fork below makes sure none is inherited.
preload_app = True
# Recycle workers now and then, so a slow leak cannot grow without bound; the jitter (as
# wide as the limit) spreads the workers' recycling apart, so they never go together.
max_requests = 10000
max_requests_jitter = 10000


class _NoAccessLog(glogging.Logger):
    """The app logs one JSON line per request with its request id (observability.py):
    gunicorn's access log would say the same thing again, and because logconfig_dict is
    set it would build that line for every request even with no handler to print it."""

    def access(self, resp, req, environ, request_time):
        pass


accesslog = None
logger_class = _NoAccessLog
errorlog = "-"
# gunicorn's own lines as JSON too, like the app's: one object per line on stdout.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "tasktracker.observability.JsonLines"}
    },
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json",
                   "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
    # The app puts its own JSON handler on the root logger (tasktracker/observability.py).
    "root": {"level": "INFO", "handlers": []},
}  # fmt: skip
# gunicorn 27 opens a control socket in ~/.gunicorn/ by default: nothing uses it here, and
# in a container the home directory may not be writable.
control_socket_disable = True
# Behind nginx: X-Forwarded-* is trusted by the app's ProxyFix (PROXY_FIX_HOPS), not here.
forwarded_allow_ips = "127.0.0.1"


# Metrics from several workers (tasktracker/metrics.py): each worker writes its own files
# under PROMETHEUS_MULTIPROC_DIR; the arbiter starts from an empty directory, and drops a
# dead worker's live gauges when it exits. The directory is made here, as gunicorn reads
# this file, because the app (preloaded) needs it at import; once per arbiter, since a
# reload (SIGHUP) reads the file again while workers still write there.
def _empty_metrics_directory() -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.environ.get("TASKTRACKER_METRICS_EMPTIED_BY") != str(os.getpid()):
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True)
        os.environ["TASKTRACKER_METRICS_EMPTIED_BY"] = str(os.getpid())


_empty_metrics_directory()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_fork(server, worker):
    app = getattr(server.app, "callable", None)
    if hasattr(app, "app_context"):  # a preloaded Flask app: the arbiter's pool stays its own
        from tasktracker.extensions import db

        with app.app_context():
            db.engine.dispose(close=False)
