"""Processing tasks with real `flask worker` processes: progress, cancels, retries, and
recovery from killed workers and a flushed Redis, each task completed exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue
from rq.serializers import JSONSerializer

from tests.conftest import ApiClient
from tests.jobs.conftest import SETTINGS, WAIT_SECONDS, events_of, finished, job_state, wait_for


def process(client: ApiClient, title: str = "Process me") -> tuple[dict[str, Any], str]:
    task = client.create_task(title=title)
    response = client.post(task["url"] + "/process")
    assert response.status_code == 202, response.json
    assert response.json["state"] == "queued"
    return task, response.headers["Location"]


def kinds(client: ApiClient, task: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in events_of(client, task)]


def completions(client: ApiClient, task: dict[str, Any]) -> Counter[str]:
    """How often each outcome was recorded for the task: exactly once is the promise."""
    counted = Counter(kinds(client, task))
    return Counter({k: counted[k] for k in ("job_succeeded", "completed", "job_failed")})


def steps(conn: redis.Redis, task: dict[str, Any]) -> list[tuple[int, int, int]]:
    raw = conn.lrange(f"steps:{task['id']}", 0, -1)
    return [tuple(int(part) for part in entry.split(":")) for entry in raw]  # type: ignore[misc]


@pytest.mark.parametrize("fork", [False, True], ids=["no-fork", "fork"])
def test_processing_reports_rising_progress_and_logs_in_order(
    owner: ApiClient, start_worker: Any, fork: bool
) -> None:
    start_worker(PROCESS_STEP_SECONDS=0.2, fork=fork)
    task, job_url = process(owner)
    seen = []
    while (job := job_state(owner, job_url))["state"] not in ("succeeded", "failed"):
        seen.append(job["progress"])
        time.sleep(0.02)
    assert job["state"] == "succeeded"
    assert job["progress"] == 100
    assert job["attempt"] == 1
    assert job["result"] == "Process me done"
    assert job["started_at"] <= job["finished_at"]
    assert seen == sorted(seen)
    assert len(set(seen) - {0}) >= 3  # watched it rise step by step

    assert kinds(owner, task) == [
        "created", "job_queued", "job_started", "status_changed",
        *["job_progress"] * SETTINGS["PROCESS_STEPS"], "job_succeeded", "completed",
    ]  # fmt: skip
    done = owner.get(task["url"]).json
    assert (done["status"], done["completed"]) == ("completed", True)
    progress = [
        e["data"]["progress"] for e in events_of(owner, task) if e["kind"] == "job_progress"
    ]
    assert progress == [20, 40, 60, 80, 100]
    listed = owner.get(task["url"] + "/jobs").json
    assert [j["id"] for j in listed["items"]] == [job["id"]]


def test_a_status_set_during_the_run_is_where_the_completion_starts_from(
    owner: ApiClient, start_worker: Any
) -> None:
    """The worker's status writes are conditional on the status it expects: a change made
    by the owner mid-run is not overwritten unseen, and the log says what really changed."""
    start_worker(PROCESS_STEP_SECONDS=0.3)
    task, job_url = process(owner)
    wait_for(lambda: job_state(owner, job_url)["progress"] > 0, what="the job to run")
    assert owner.patch(task["url"], json={"status": "pending"}).status_code == 200
    wait_for(lambda: finished(owner, job_url), what="the job to finish")
    changes = [
        e["data"] for e in events_of(owner, task) if e["kind"] in ("status_changed", "completed")
    ]
    assert changes == [
        {"from": "pending", "to": "in_progress"},  # the claim
        {"from": "in_progress", "to": "pending"},  # the owner
        {"from": "pending", "to": "completed"},  # the end of the run
    ]
    assert owner.get(task["url"]).json["status"] == "completed"


def test_a_second_process_request_is_a_conflict(owner: ApiClient, start_worker: Any) -> None:
    task, job_url = process(owner)  # no worker yet: it stays queued
    again = owner.post(task["url"] + "/process")
    assert again.status_code == 409
    assert again.json["code"] == "job_active"

    start_worker(PROCESS_STEP_SECONDS=0.3)
    wait_for(lambda: job_state(owner, job_url)["state"] == "running", what="running")
    assert owner.post(task["url"] + "/process").status_code == 409

    wait_for(lambda: finished(owner, job_url), what="the job to finish")
    again = owner.post(task["url"] + "/process")  # a finished job leaves room for another
    assert again.status_code == 202
    assert owner.get(task["url"] + "/jobs").json["total"] == 2


def test_a_task_in_the_trash_cannot_be_processed(owner: ApiClient) -> None:
    task = owner.create_task()
    owner.delete(task["url"])
    response = owner.post(task["url"] + "/process")
    assert response.status_code == 409
    assert response.json["code"] == "task_deleted"


def test_a_cancelled_queued_job_never_runs(
    owner: ApiClient, start_worker: Any, redis_conn: redis.Redis
) -> None:
    task, job_url = process(owner)
    cancelled = owner.post(job_url + "/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["state"] == "cancelled"
    assert owner.post(job_url + "/cancel").json["state"] == "cancelled"  # idempotent

    _, other_url = process(owner, "Another")  # a job queued after it, to know when it passed
    start_worker()
    wait_for(lambda: finished(owner, other_url), what="the job queued after it")
    assert job_state(owner, job_url)["attempt"] == 0
    assert steps(redis_conn, task) == []
    assert kinds(owner, task) == ["created", "job_queued", "job_cancelled"]
    assert owner.get(task["url"]).json["status"] == "pending"


@pytest.mark.parametrize("stop", ["cancel", "trash"])
def test_a_running_job_cancelled_or_trashed_stops_at_its_next_step(
    owner: ApiClient, start_worker: Any, redis_conn: redis.Redis, stop: str
) -> None:
    start_worker(PROCESS_STEPS=40, PROCESS_STEP_SECONDS=0.1)
    task, job_url = process(owner)
    wait_for(lambda: job_state(owner, job_url)["progress"] >= 10, what="some progress")
    if stop == "cancel":
        assert owner.post(job_url + "/cancel").json["state"] == "cancelled"
    else:  # moving the task to the trash cancels its job
        assert owner.delete(task["url"]).status_code == 204
    ran = len(steps(redis_conn, task))
    time.sleep(1.0)  # ten more steps' time
    assert len(steps(redis_conn, task)) <= ran + 1  # at most the step under way
    job = job_state(owner, job_url)
    assert (job["state"], job["finished_at"] is not None) == ("cancelled", True)
    log = kinds(owner, task)
    ending = ["job_cancelled", "status_changed"] + (["deleted"] if stop == "trash" else [])
    assert log[-len(ending) :] == ending
    assert "job_succeeded" not in log
    assert owner.get(task["url"]).json["status"] == "pending"
    if stop == "cancel":
        # Finished for good: a cancelled job cannot be cancelled into anything else.
        assert owner.post(task["url"] + "/process").status_code == 202


def test_a_failing_attempt_is_retried_then_succeeds(owner: ApiClient, start_worker: Any) -> None:
    start_worker("fail_first_attempts")
    task, job_url = process(owner, "flaky 2")
    job = wait_for(lambda: finished(owner, job_url), what="the job to finish")
    assert (job["state"], job["attempt"]) == ("succeeded", 3)
    assert job["error"] is None
    failures = [e for e in events_of(owner, task) if e["kind"] == "job_failed"]
    assert [f["data"]["attempt"] for f in failures] == [1, 2]
    assert not any(f["data"]["final"] for f in failures)
    assert "RuntimeError: flaky on attempt 1" in failures[0]["message"]
    # Backoff: the second retry waited about twice as long as the first.
    assert failures[0]["data"]["retry_at"] < failures[1]["data"]["retry_at"]
    assert completions(owner, task) == Counter(job_succeeded=1, completed=1, job_failed=2)
    assert owner.get(task["url"]).json["status"] == "completed"


def test_a_retry_waits_in_redis_as_an_rq_job_of_its_own(
    owner: ApiClient, start_worker: Any, jobs_app: Flask, redis_url: str
) -> None:
    """The retry is enqueued from inside the failing attempt's RQ job, which RQ then marks
    finished and sets to expire: the retry must be another RQ job, scheduled, that does not
    expire before its backoff is over (else only the reaper would bring it back)."""
    start_worker("fail_first_attempts", JOB_RETRY_BACKOFF_SECONDS=60)
    _task, job_url = process(owner, "flaky 1")
    wait_for(lambda: job_state(owner, job_url)["retry_at"], what="the first attempt to fail")
    job_id = job_state(owner, job_url)["id"]
    conn = redis.Redis.from_url(redis_url)
    queue = Queue(jobs_app.config["JOB_QUEUE"], connection=conn, serializer=JSONSerializer)
    first = wait_for(
        lambda: (job := queue.fetch_job(f"{job_id}_1")) and job.get_status() == "finished" and job,
        what="RQ to finish the first attempt's job",
    )
    assert first.args == [job_id]
    retry = queue.fetch_job(f"{job_id}_2")
    assert (retry.get_status(), retry.args) == ("scheduled", [job_id])
    assert queue.scheduled_job_registry.get_job_ids() == [f"{job_id}_2"]
    assert conn.ttl(retry.key) == -1  # no expiry: it waits as long as the backoff
    assert job_state(owner, job_url)["state"] == "queued"


def test_the_last_failure_fails_the_job_and_the_task(owner: ApiClient, start_worker: Any) -> None:
    start_worker("always_fail")
    task, job_url = process(owner)
    job = wait_for(lambda: finished(owner, job_url), what="the job to finish")
    assert (job["state"], job["attempt"], job["max_attempts"]) == ("failed", 3, 3)
    assert job["error"] == "RuntimeError: the processor is broken"
    assert job["finished_at"] is not None
    failures = [e for e in events_of(owner, task) if e["kind"] == "job_failed"]
    assert [f["data"]["final"] for f in failures] == [False, False, True]
    assert owner.get(task["url"]).json["status"] == "failed"
    assert owner.post(job_url + "/cancel").status_code == 409


def test_a_killed_work_horse_is_retried_and_completes_once(
    owner: ApiClient, start_worker: Any, redis_conn: redis.Redis
) -> None:
    start_worker(PROCESS_STEPS=20, PROCESS_STEP_SECONDS=0.1, fork=True)
    task, job_url = process(owner)
    first = wait_for(lambda: steps(redis_conn, task), what="the first step")
    _, _, horse = first[0]
    os.kill(horse, signal.SIGKILL)  # the work horse, mid-job; its worker lives on

    job = wait_for(lambda: finished(owner, job_url), what="the retried job")
    assert (job["state"], job["attempt"]) == ("succeeded", 2)
    ran = steps(redis_conn, task)
    assert {attempt for attempt, _, _ in ran} == {1, 2}
    assert [s for a, s, _ in ran if a == 2] == list(range(1, 21))  # the retry ran whole
    assert completions(owner, task) == Counter(job_succeeded=1, completed=1, job_failed=1)
    failure = next(e for e in events_of(owner, task) if e["kind"] == "job_failed")
    assert "died" in failure["message"]


def test_a_killed_worker_is_replaced_within_the_bound(
    owner: ApiClient, start_worker: Any, redis_conn: redis.Redis
) -> None:
    first = start_worker(PROCESS_STEPS=20, PROCESS_STEP_SECONDS=0.1)
    task, job_url = process(owner)
    wait_for(lambda: steps(redis_conn, task), what="the first step")
    first.kill_everything()  # worker, work horse and scheduler: a machine lost
    killed_at = time.monotonic()
    assert job_state(owner, job_url)["state"] == "running"

    start_worker(PROCESS_STEPS=20, PROCESS_STEP_SECONDS=0.1)
    job = wait_for(lambda: finished(owner, job_url), what="the job, on the other worker")
    recovered_in = time.monotonic() - killed_at
    assert (job["state"], job["attempt"]) == ("succeeded", 2)
    # The bound: lease + reaper interval + backoff + the run itself (2 s here), with slack.
    assert recovered_in < SETTINGS["JOB_LEASE_SECONDS"] + 1 + 0.2 + 2 + 5
    assert completions(owner, task) == Counter(job_succeeded=1, completed=1, job_failed=1)


def test_an_attempt_stuck_past_its_timeout_is_taken_back(
    owner: ApiClient, start_worker: Any, redis_conn: redis.Redis
) -> None:
    """A worker (not forking) stuck in a job no signal can stop stops renewing the job's lease
    at the timeout: the reaper takes the job back and another worker completes it."""
    stuck = start_worker("stuck_first", JOB_TIMEOUT_SECONDS=1)
    task, job_url = process(owner)
    wait_for(lambda: steps(redis_conn, task), what="the first attempt to hang")
    start_worker("stuck_first", JOB_TIMEOUT_SECONDS=1)
    job = wait_for(lambda: finished(owner, job_url), what="the job to be taken back")
    assert (job["state"], job["attempt"], job["result"]) == ("succeeded", 2, "done on attempt 2")
    failure = next(e for e in events_of(owner, task) if e["kind"] == "job_failed")
    assert "no heartbeat" in failure["message"]
    assert completions(owner, task) == Counter(job_succeeded=1, completed=1, job_failed=1)
    stuck.kill_everything()  # a warm shutdown would wait for the hung job


def test_jobs_redis_lost_are_enqueued_again(
    owner: ApiClient, start_worker: Any, redis_conn: redis.Redis
) -> None:
    queued = [process(owner, f"Lost {n}") for n in range(5)]
    redis_conn.flushdb()  # Redis restarted empty: every queued id is gone
    start_worker()
    for task, job_url in queued:
        job = wait_for(lambda url=job_url: finished(owner, url), what="the re-enqueued job")
        assert (job["state"], job["attempt"]) == ("succeeded", 1)
        assert completions(owner, task) == Counter(job_succeeded=1, completed=1)


def test_a_worker_with_max_jobs_exits_after_that_many(owner: ApiClient, start_worker: Any) -> None:
    """`--max-jobs`: the worker leaves the rest to a fresh worker (its supervisor's)."""
    queued = [process(owner, f"Batch {n}") for n in range(3)]
    worker = start_worker(PROCESS_STEPS=1, PROCESS_STEP_SECONDS=0, args=("--max-jobs", "2"))
    assert worker.process.wait(timeout=WAIT_SECONDS) == 0
    states = [job_state(owner, job_url)["state"] for _, job_url in queued]
    assert sorted(states) == ["queued", "succeeded", "succeeded"]
    start_worker(PROCESS_STEPS=1, PROCESS_STEP_SECONDS=0)
    for _, job_url in queued:
        assert wait_for(lambda url=job_url: finished(owner, url))["state"] == "succeeded"


def test_sigterm_lets_the_job_under_way_finish_then_the_worker_exits(
    owner: ApiClient, start_worker: Any
) -> None:
    """A warm shutdown (what a supervisor or `docker compose stop` sends): the job being
    processed completes, the next one stays queued for another worker, the exit is clean."""
    task, job_url = process(owner, "Under way")
    _, waiting_url = process(owner, "Waiting")
    worker = start_worker(PROCESS_STEPS=10, PROCESS_STEP_SECONDS=0.1)
    wait_for(lambda: job_state(owner, job_url)["progress"] >= 10, what="the job under way")
    worker.stop()
    assert worker.process.returncode == 0, worker.output()[-2000:]
    assert job_state(owner, job_url)["state"] == "succeeded"
    assert completions(owner, task) == Counter(job_succeeded=1, completed=1)
    assert job_state(owner, waiting_url)["state"] == "queued"


@pytest.mark.parametrize("fork", [False, True], ids=["no-fork", "fork"])
def test_two_workers_racing_process_each_task_exactly_once(
    owner: ApiClient, start_worker: Any, redis_conn: redis.Redis, fork: bool
) -> None:
    tasks = [process(owner, f"Race {n}") for n in range(40)]
    workers = [start_worker(PROCESS_STEPS=2, PROCESS_STEP_SECONDS=0.01, fork=fork) for _ in "ab"]
    for _, job_url in tasks:
        job = wait_for(lambda url=job_url: finished(owner, url), what="every job")
        assert (job["state"], job["attempt"]) == ("succeeded", 1)
    ran_in = set()
    for task, _ in tasks:
        ran = steps(redis_conn, task)
        assert [(a, s) for a, s, _ in ran] == [(1, 1), (1, 2)]  # one attempt, run once
        ran_in.add(ran[0][2])
        assert completions(owner, task) == Counter(job_succeeded=1, completed=1)
    pids = {worker.pid for worker in workers}
    if fork:
        assert len(ran_in) > 2  # a work horse per job
        assert not ran_in & pids
    else:
        assert ran_in <= pids  # in the workers themselves
