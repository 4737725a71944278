"""/metrics: requests by endpoint and status with latency histograms, jobs by state and the
queue's depth; correct when several gunicorn workers answer the scrapes."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from tests.conftest import ApiClient, required_env, scratch_database
from tests.servers import app_env, gunicorn, migrate


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line) or re.fullmatch(
            rf"{name} (\S+)", line
        )
        if not match:
            continue
        if match.lastindex == 1:
            return None if labels else float(match.group(1))
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return None


def test_metrics_count_requests_and_jobs(
    client: Any, alice: ApiClient, redis_url: str, app: Any
) -> None:
    count = "flask_http_request_duration_seconds_count"
    ok = {"endpoint": "api.list_tasks", "method": "GET", "status": "200"}
    refused = {**ok, "status": "401"}
    before = client.get("/metrics").get_data(as_text=True)  # this app served other tests too
    redis.Redis.from_url(redis_url).delete(f"rq:queue:{app.config['JOB_QUEUE']}")
    for _ in range(3):
        alice.get("/api/tasks")
    client.get("/api/tasks")  # 401
    for _ in range(2):
        task = alice.create_task()
        alice.post(task["url"] + "/process")
    job = alice.post(alice.create_task()["url"] + "/process").json
    alice.post(job["url"] + "/cancel")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert (sample(text, count, **ok) or 0) - (sample(before, count, **ok) or 0) == 3
    assert (sample(text, count, **refused) or 0) - (sample(before, count, **refused) or 0) == 1
    bucket = "flask_http_request_duration_seconds_bucket"
    assert (sample(text, bucket, **ok, le="+Inf") or 0) - (
        sample(before, bucket, **ok, le="+Inf") or 0
    ) == 3
    assert sample(text, "tasktracker_jobs", state="queued") == 2
    assert sample(text, "tasktracker_jobs", state="cancelled") == 1
    assert sample(text, "tasktracker_jobs", state="running") == 0
    assert sample(text, "tasktracker_queue_depth") == 3  # the cancelled id is still in Redis
    assert 'endpoint="metrics.metrics"' not in text  # scrapes are not counted as requests


@pytest.fixture(scope="module")
def multiprocess_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Not made yet: `flask db upgrade`, the first command, makes it.
    directory = tmp_path_factory.mktemp("prometheus") / "metrics"
    with scratch_database("metrics") as database_url:
        env = app_env(
            database_url,
            required_env("TEST_REDIS_URL"),
            PROMETHEUS_MULTIPROC_DIR=str(directory),
            LOG_LEVEL="INFO",
        )
        migrate(env)
        assert directory.is_dir()
        log = tmp_path_factory.getbasetemp() / "gunicorn.log"
        with gunicorn(env, log, workers=3) as base_url:
            yield base_url


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def health_requests(base_url: str) -> float:
    text = get(base_url + "/metrics")
    counted = sample(text, "flask_http_request_duration_seconds_count",
                     endpoint="ops.health", method="GET", status="200")  # fmt: skip
    return counted or 0


REQUESTS = 200


def test_several_gunicorn_workers_add_up(
    multiprocess_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # /health, which nothing else asks for: the start's readiness checks poll /health/live,
    # and one that timed out while the workers started may still be served later.
    assert health_requests(multiprocess_server) == 0
    with ThreadPoolExecutor(12) as pool:  # concurrent, so that several workers serve some
        list(pool.map(lambda _: get(multiprocess_server + "/health"), range(REQUESTS)))
    log = tmp_path_factory.getbasetemp() / "gunicorn.log"
    served_by = {
        entry["pid"]
        for entry in map(json.loads, filter(None, log.read_text().splitlines()))
        if entry.get("path") == "/health"
    }
    assert len(served_by) > 1
    # Each scrape lands on any of the workers; each must count what all of them served.
    assert [health_requests(multiprocess_server) for _ in range(6)] == [REQUESTS] * 6
    text = get(multiprocess_server + "/metrics")
    assert sample(text, "tasktracker_jobs", state="queued") == 0
