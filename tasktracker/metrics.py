"""Prometheus metrics at /metrics: requests by endpoint, method and status with their
latencies (one histogram, whose `_count` is the number of requests), and jobs by state and
the queue's depth, read at each scrape.

Under gunicorn with PROMETHEUS_MULTIPROC_DIR set, every worker process writes its request
metrics to that directory and a scrape, whichever process answers it, adds them all up
(deploy/gunicorn.conf.py removes a dead worker's files). Recording a request is two
writes to those memory-mapped files: the histogram's sum and one bucket.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tasktracker.processing import queue
from tasktracker.services import jobs

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)

REQUEST_SECONDS = "flask_http_request_duration_seconds"


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


class RequestMetrics:
    """Each request's duration by endpoint, method and status, observed after the view;
    requests for /metrics itself are not counted."""

    def __init__(self, app: Flask, registry: CollectorRegistry | None) -> None:
        self.histogram = Histogram(
            REQUEST_SECONDS,
            "Flask HTTP request duration in seconds",
            ("method", "endpoint", "status"),
            registry=registry,
        )
        # A label set's child, found once: `labels()` checks and converts on every call.
        self.by_labels: dict[tuple[str, str, int], Any] = {}
        app.before_request(self.start)
        app.after_request(self.observe)

    @staticmethod
    def start() -> None:
        g.metrics_started = time.perf_counter()

    def observe(self, response: Response) -> Response:
        started = g.get("metrics_started")
        endpoint = request.endpoint or "none"
        if started is None or endpoint == "metrics.metrics":
            return response
        key = (request.method, endpoint, response.status_code)
        child = self.by_labels.get(key)
        if child is None:
            child = self.by_labels[key] = self.histogram.labels(*key)
        child.observe(time.perf_counter() - started)
        return response


def init_app(app: Flask) -> None:
    directory = app.config["PROMETHEUS_MULTIPROC_DIR"]
    if directory:
        # Made if missing: any command may come first (`flask db upgrade` before gunicorn).
        Path(directory).mkdir(parents=True, exist_ok=True)
    # A registry per app (not the process-wide default), so that many apps can coexist.
    # With a directory, the histogram's values live in its files (prometheus_client reads
    # PROMETHEUS_MULTIPROC_DIR from the environment, where the configuration comes from),
    # and a scrape reads every process's files rather than a registry.
    requests_registry = CollectorRegistry()
    RequestMetrics(app, None if directory else requests_registry)
    if directory:
        MultiProcessCollector(requests_registry, path=directory)
    jobs_registry = CollectorRegistry(auto_describe=False)
    jobs_registry.register(JobsCollector())
    app.extensions["tasktracker.metrics"] = (requests_registry, jobs_registry)
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format (not OpenMetrics: the two parts are simply joined)."""
    requests_registry, jobs_registry = current_app.extensions["tasktracker.metrics"]
    body = generate_latest(requests_registry) + generate_latest(jobs_registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
