"""Prometheus metrics at /metrics: requests by endpoint and status with latency histograms
(prometheus-flask-exporter), and jobs by state and queue depth, read at each scrape.

Under gunicorn with PROMETHEUS_MULTIPROC_DIR set, every worker process writes its request
metrics to that directory and a scrape, whichever process answers it, adds them all up
(deploy/gunicorn.conf.py removes a dead worker's files).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from tasktracker import queue
from tasktracker.services import jobs

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)


class JobsCollector(Collector):
    """Jobs by state and the queue's depth, as they are at scrape time (the jobs table and
    Redis are shared by every process, so no process adds anything up)."""

    def collect(self) -> Iterator[Metric]:
        try:
            counts, depth = jobs.count_by_state(), queue.depth()
        except Exception:  # a dependency is down (/health says which): keep the rest
            log.warning("metrics: jobs could not be counted", exc_info=True)
            return
        by_state = GaugeMetricFamily("tasktracker_jobs", "Jobs by state.", labels=["state"])
        for state, count in counts.items():
            by_state.add_metric([state], count)
        yield by_state
        yield GaugeMetricFamily("tasktracker_queue_depth", "Job ids waiting in the queue.", depth)


def init_app(app: Flask) -> None:
    directory = app.config["PROMETHEUS_MULTIPROC_DIR"]
    if directory:
        # Made if missing: any command may come first (`flask db upgrade` before gunicorn).
        Path(directory).mkdir(parents=True, exist_ok=True)
    exporter_class = GunicornInternalPrometheusMetrics if directory else PrometheusMetrics
    # A registry per app (not the process-wide default), so that many apps can coexist.
    exporter = exporter_class(
        app=None, path=None, registry=CollectorRegistry(), group_by="endpoint"
    )
    exporter.init_app(app)
    jobs_registry = CollectorRegistry(auto_describe=False)
    jobs_registry.register(JobsCollector())
    app.extensions["tasktracker.metrics"] = (exporter, jobs_registry)
    app.register_blueprint(bp)


@bp.get("/metrics")
@PrometheusMetrics.do_not_track()
def metrics() -> Response:
    """Prometheus text format (not OpenMetrics: the two parts are simply joined)."""
    exporter, jobs_registry = current_app.extensions["tasktracker.metrics"]
    requests_text, _ = exporter.generate_metrics()
    body = requests_text + generate_latest(jobs_registry).decode()
    return Response(body, content_type=CONTENT_TYPE_LATEST)
