"""The job routes without a worker: asking for processing, reading, listing and cancelling
jobs, and who may see them. (tests/jobs runs real workers.)"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue
from rq.serializers import JSONSerializer

from tasktracker.extensions import db
from tasktracker.models import Job, User
from tasktracker.services import tasks as tasks_service
from tests.conftest import ApiClient

JOB_KEYS = {
    "id", "task_id", "kind", "state", "progress", "attempt", "max_attempts", "error", "result",
    "created_at", "started_at", "retry_at", "finished_at", "url", "task_url",
}  # fmt: skip


def queue_job(client: ApiClient, task: dict[str, Any]) -> dict[str, Any]:
    response = client.post(task["url"] + "/process")
    assert response.status_code == 202, response.json
    assert response.headers["Location"] == response.json["url"]
    return response.json


def test_process_queues_a_job(alice: ApiClient, app: Flask, redis_url: str) -> None:
    task = alice.create_task()
    job = queue_job(alice, task)
    assert set(job) == JOB_KEYS
    assert (job["state"], job["progress"], job["attempt"], job["kind"]) == (
        "queued",
        0,
        0,
        "process",
    )
    assert job["max_attempts"] == app.config["JOB_MAX_ATTEMPTS"]
    assert job["task_url"] == task["url"]
    assert job["url"] == f"/api/jobs/{job['id']}"
    assert alice.get(job["url"]).json == job
    log = alice.get(task["url"] + "/events").json["items"]
    assert log[-1]["kind"] == "job_queued"
    assert log[-1]["data"] == {"job_id": job["id"]}
    # Enqueued after the commit as the RQ job of its first attempt, by id alone, as JSON.
    queue = Queue(
        app.config["JOB_QUEUE"],
        connection=redis.Redis.from_url(redis_url),
        serializer=JSONSerializer,
    )
    assert f"{job['id']}_1" in queue.job_ids
    assert queue.fetch_job(f"{job['id']}_1").args == [job["id"]]


def test_one_active_job_per_task(alice: ApiClient) -> None:
    task = alice.create_task()
    queue_job(alice, task)
    response = alice.post(task["url"] + "/process")
    assert response.status_code == 409
    assert response.json["code"] == "job_active"
    other = alice.create_task()
    queue_job(alice, other)  # other tasks are not held up


def test_a_task_in_the_trash_is_not_processed(alice: ApiClient) -> None:
    task = alice.create_task()
    alice.delete(task["url"])
    response = alice.post(task["url"] + "/process")
    assert response.status_code == 409
    assert response.json["code"] == "task_deleted"
    assert alice.get(task["url"] + "/jobs").json["total"] == 0


@pytest.mark.parametrize("how", ["one", "bulk"])
def test_moving_a_task_to_the_trash_cancels_its_job(alice: ApiClient, app: Flask, how: str) -> None:
    task = alice.create_task()
    job = queue_job(alice, task)
    if how == "one":
        assert alice.delete(task["url"]).status_code == 204
    else:
        with app.app_context():
            owner = db.session.get(User, alice.user["id"])
            assert tasks_service.delete_tasks(owner, [task["id"]]) == 1
    cancelled = alice.get(job["url"]).json
    assert cancelled["state"] == "cancelled"
    assert cancelled["finished_at"] is not None
    log = alice.get(task["url"] + "/events").json["items"]
    assert [e["kind"] for e in log] == ["created", "job_queued", "job_cancelled", "deleted"]
    assert log[2]["message"] == "Processing cancelled: the task was moved to the trash."
    # Restored, it can be processed again.
    alice.post(task["url"] + "/restore")
    queue_job(alice, task)


def test_cancel_a_queued_job(alice: ApiClient) -> None:
    task = alice.create_task()
    job = queue_job(alice, task)
    response = alice.post(job["url"] + "/cancel")
    assert response.status_code == 200
    assert response.json["state"] == "cancelled"
    assert response.json["finished_at"] is not None
    assert alice.post(job["url"] + "/cancel").json == response.json  # idempotent
    log = alice.get(task["url"] + "/events").json["items"]
    assert [e["kind"] for e in log] == ["created", "job_queued", "job_cancelled"]
    assert alice.get(task["url"]).json["status"] == "pending"
    queue_job(alice, task)  # room for a new one


@pytest.mark.parametrize("state", ["succeeded", "failed"])
def test_a_finished_job_cannot_be_cancelled(alice: ApiClient, app: Flask, state: str) -> None:
    job = queue_job(alice, alice.create_task())
    with app.app_context():
        db.session.get(Job, uuid.UUID(job["id"])).state = state
        db.session.commit()
    response = alice.post(job["url"] + "/cancel")
    assert response.status_code == 409
    assert response.json["code"] == "job_finished"


def test_a_tasks_jobs_newest_first_in_pages(alice: ApiClient) -> None:
    task = alice.create_task()
    ids = []
    for _ in range(5):
        job = queue_job(alice, task)
        alice.post(job["url"] + "/cancel")
        ids.append(job["id"])
    first = alice.get(task["url"] + "/jobs?per_page=2")
    assert first.json["total"] == 5
    assert [j["id"] for j in first.json["items"]] == ids[::-1][:2]
    seen, url = [], task["url"] + "/jobs?per_page=2"
    while url:
        response = alice.get(url)
        seen += [j["id"] for j in response.json["items"]]
        links = dict(
            (rel.split('"')[1], part.split(";")[0].strip()[1:-1])
            for part in response.headers["Link"].split(",")
            for rel in [part.split(";")[1]]
        )
        url = links.get("next")
        assert url is None or "cursor=" in url
    assert seen == ids[::-1]


def test_an_unreachable_redis_loses_nothing(alice: ApiClient, app: Flask, monkeypatch: Any) -> None:
    """The job is committed first: if the enqueue fails the API still answers 202 and the
    job waits, queued, for the reaper."""
    monkeypatch.setitem(app.extensions, "redis", redis.Redis(port=1, socket_connect_timeout=1))
    task = alice.create_task()
    job = queue_job(alice, task)
    assert alice.get(job["url"]).json["state"] == "queued"


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("POST", "/cancel")], ids=["get", "cancel"]
)
def test_another_accounts_job_is_404(
    alice: ApiClient, bob: ApiClient, method: str, suffix: str
) -> None:
    bobs_task = bob.create_task()
    bobs_job = queue_job(bob, bobs_task)
    response = alice.request(method, bobs_job["url"] + suffix)
    missing = alice.request(method, "/api/jobs/00000000-0000-4000-8000-000000000000" + suffix)
    assert response.status_code == missing.status_code == 404
    assert response.json["code"] == missing.json["code"] == "job_not_found"
    assert bob.get(bobs_job["url"]).json["state"] == "queued"


def test_another_accounts_task_cannot_be_processed_or_listed(
    alice: ApiClient, bob: ApiClient
) -> None:
    bobs_task = bob.create_task()
    queue_job(bob, bobs_task)
    for method, suffix in (("POST", "/process"), ("GET", "/jobs")):
        response = alice.request(method, bobs_task["url"] + suffix)
        assert response.status_code == 404
        assert response.json["code"] == "task_not_found"
    assert bob.get(bobs_task["url"] + "/jobs").json["total"] == 1


def test_a_malformed_job_id_is_404(alice: ApiClient) -> None:
    response = alice.get("/api/jobs/not-a-uuid")
    assert response.status_code == 404
    assert response.json["code"] == "not_found"
