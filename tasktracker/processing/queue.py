"""The RQ queue: Redis carries job ids (JSON, never pickle); the jobs table is the truth.

With REDIS_URL unset the queue lives in an in-process Redis (fakeredis) and a worker thread
of this process works it (processing.workers), so the zero-config app processes tasks too.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import redis
from flask import current_app
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from tasktracker.extensions import redis_client

log = logging.getLogger(__name__)

# The RQ entry point every attempt runs, by dotted name: the web side never imports it.
RUN_ATTEMPT = "tasktracker.processing.attempts.run_attempt"
# What Redis holds that will run without help: waiting in a queue or being worked. (A
# delayed job that is overdue waits for a scheduler that is not doing its work.)
_PENDING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.STARTED}


class AppJob(RQJob):
    """Runs each job in a fresh application context of the worker's app: its own database
    session and `g`, gone when the job is."""

    def perform(self) -> Any:
        with current_app._get_current_object().app_context():
            return super().perform()


def get_queue() -> Queue:
    return Queue(
        current_app.config["JOB_QUEUE"],
        connection=redis_client.client,
        job_class=AppJob,
        serializer=JSONSerializer,
    )


def rq_job_id(job_id: str, attempt: int) -> str:
    """The RQ job that runs this attempt of a job. Each attempt has its own: a retry is
    enqueued from inside the failing attempt's RQ job, and RQ, finishing that one, rewrites
    its Redis entry (status, expiry), which must not be the retry's."""
    return f"{job_id}_{attempt}"


def enqueue_attempt(job_id: uuid.UUID, attempt: int, *, at: datetime | None = None) -> None:
    """Puts the job's id on the queue for this attempt (at `at`, for a retry's backoff),
    after the commit that made the attempt due. The same attempt may be enqueued twice: only
    one claim of it can win. If Redis is unreachable the job stays queued in the database,
    and the reaper (processing.recovery) enqueues it once Redis is back."""
    try:
        _enqueue(str(job_id), attempt, at)
    except (redis.RedisError, OSError) as error:
        log.warning("job %s: could not enqueue (%r); the reaper will retry", job_id, error)


def _enqueue(job_id: str, attempt: int, at: datetime | None) -> None:
    queue = get_queue()
    rq_id = rq_job_id(job_id, attempt)
    options: dict[str, Any] = {
        "job_id": rq_id,
        "job_timeout": current_app.config["JOB_TIMEOUT_SECONDS"],
        "result_ttl": 60,
        "failure_ttl": 7 * 86_400,
        "description": f"process job {job_id}, attempt {attempt}",
    }
    if at is None:
        queue.scheduled_job_registry.remove(rq_id)  # no copy left to run a second time
        queue.enqueue(RUN_ATTEMPT, job_id, **options)
    else:
        queue.enqueue_at(at, RUN_ATTEMPT, job_id, **options)
    starter = current_app.extensions.get("tasktracker.in_process_worker")
    if starter is not None:
        starter()


def held(job_id: uuid.UUID, attempt: int) -> bool:
    """Whether Redis holds this attempt of the job, due now, in a state that will run it."""
    try:
        job = AppJob.fetch(
            rq_job_id(str(job_id), attempt),
            connection=redis_client.client,
            serializer=JSONSerializer,
        )
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in _PENDING


def depth() -> int:
    """How many job ids wait in the queue."""
    return get_queue().count
