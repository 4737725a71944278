"""gunicorn settings for Task Tracker: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

The application itself is configured by its own environment variables (README.md); these
are the web server's, and may be overridden on the command line.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Sync workers: on this stack they gave the best p99 on database routes (gthread showed
# 0.1–1.5 s spikes). gunicorn reads WEB_CONCURRENCY itself; this is the default.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# The app logs one JSON line per request with its request id; gunicorn's own access log
# would say the same thing again in another format.
accesslog = None
errorlog = "-"
# gunicorn 27 opens a control socket in ~/.gunicorn/ by default: nothing uses it here, and
# in a container the home directory may not be writable.
control_socket_disable = True
# Behind nginx: X-Forwarded-* is trusted by the app's ProxyFix (PROXY_FIX_HOPS), not here.
forwarded_allow_ips = "127.0.0.1"
