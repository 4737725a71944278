"""The attempt protocol: how a worker runs one attempt at a job.

A worker claims the job (one conditional UPDATE, which a second claimant loses), gives the
task to the processor with a `report` callable, and finishes: succeeded, or failed and
retried after a backoff until the job's attempts run out. These are the worker's units of
work; each commits.

The jobs table is the truth. Every write of an attempt is fenced by the attempt it claimed
(`WHERE id = :job AND attempt = :mine AND state = 'running'`): a worker that lost its job,
to the reaper or to a cancel, changes nothing, so a re-run never doubles an effect.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import joinedload

from tasktracker.extensions import db
from tasktracker.models import EventKind, Job, JobState, Task, TaskStatus, utcnow
from tasktracker.processing.heartbeat import lease_kept
from tasktracker.processing.processors import JobStopped, load_processor
from tasktracker.processing.queue import enqueue_attempt
from tasktracker.schemas import TaskSchema
from tasktracker.services.task_changes import Event, change_status, record_events

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=10)
MAX_ERROR_LENGTH = 2000
MAX_RESULT_LENGTH = 500
# Progress is written at most this often: steps reported faster are written together with
# the next write (at the latest, the attempt's end), so fast processors do not pay a
# transaction per step, and slow ones show every step as it happens.
PROGRESS_WRITE_SECONDS = 0.05
# What a processor is given (built once, not per job: building a schema costs more than
# using it).
_TASK_DATA = TaskSchema(exclude=("url",))
# The worker's writes are Core statements on the tables, built once with bound parameters:
# the ORM's unit of work, and building a statement and its cache key at each call, would
# cost more than the database does. A parameter named like a column the statement sets is
# reserved to SQLAlchemy: hence the `b_` names.
JOBS = Job.__table__
_CLAIM = (
    update(JOBS)
    .where(
        JOBS.c.id == bindparam("job_id"),
        JOBS.c.state == JobState.QUEUED,
        JOBS.c.attempt < JOBS.c.max_attempts,
        or_(JOBS.c.retry_at.is_(None), JOBS.c.retry_at <= bindparam("now")),
    )
    .values(
        state=JobState.RUNNING,
        attempt=JOBS.c.attempt + 1,
        progress=0,
        started_at=bindparam("now"),
        heartbeat_at=bindparam("now"),
        retry_at=None,
    )
    .returning(JOBS.c.attempt, JOBS.c.max_attempts, JOBS.c.task_id)
)
# What every write of an attempt is conditional on (parameters: Attempt.fence).
FENCE = (
    JOBS.c.id == bindparam("job_id"),
    JOBS.c.attempt == bindparam("b_attempt"),
    JOBS.c.state == JobState.RUNNING,
)
_HEARTBEAT = update(JOBS).where(*FENCE).values(heartbeat_at=bindparam("now"))
_PROGRESS = (
    update(JOBS)
    .where(*FENCE)
    .values(progress=bindparam("b_progress"), heartbeat_at=bindparam("now"))
)
_SUCCEED = (
    update(JOBS)
    .where(*FENCE)
    .values(
        state=JobState.SUCCEEDED,
        progress=100,
        result=bindparam("b_result"),
        error=None,
        finished_at=bindparam("now"),
        heartbeat_at=None,
    )
)


@dataclass
class Attempt:
    """One claimed attempt of a job, as the worker running it knows it."""

    job_id: uuid.UUID
    number: int
    max_attempts: int
    task_id: int
    task: dict[str, Any]
    # Set when a fenced write found the job no longer ours (cancelled, or taken over).
    lost: threading.Event = field(default_factory=threading.Event)
    # Progress reported but not written yet (see report), and when progress was last written.
    progress: int = 0
    unwritten: list[Event] = field(default_factory=list)
    written_at: float = field(default_factory=time.monotonic)

    @property
    def fence(self) -> dict[str, Any]:
        """The parameters of FENCE, which every write of this attempt is conditional on."""
        return {"job_id": self.job_id, "b_attempt": self.number}

    def event_data(self, **extra: Any) -> dict[str, Any]:
        return {"job_id": str(self.job_id), "attempt": self.number, **extra}


def run_attempt(job_id: str) -> None:
    """The RQ entry point (queue.RUN_ATTEMPT, given the job's id): one attempt at the job,
    claimed, processed step by step and finished. Does nothing if the job cannot be claimed
    (cancelled, finished, taken by another worker, or not due yet)."""
    attempt = claim(uuid.UUID(job_id))
    if attempt is None:
        log.info("job %s: not claimable, skipped", job_id)
        return
    processor = load_processor()
    with lease_kept(partial(_renew_lease, attempt), f"job {job_id} attempt {attempt.number}"):
        try:
            result = processor(attempt.task, partial(report, attempt))
        except JobStopped:
            log.info("job %s attempt %s: stopped", job_id, attempt.number)
            return
        except Exception as error:
            log.warning("job %s attempt %s failed: %r", job_id, attempt.number, error)
            fail(attempt, f"{type(error).__name__}: {error}")
            return
    succeed(attempt, result)


def claim(job_id: uuid.UUID) -> Attempt | None:
    """Takes the job if it is queued and due, and puts its task in progress. Commits."""
    now = utcnow()
    claimed = db.session.execute(_CLAIM, {"job_id": job_id, "now": now}).first()
    if claimed is None:
        db.session.rollback()
        return None
    # One query for the task and its tags (the processor is given both).
    task = db.session.get(
        Task, claimed.task_id, options=[joinedload(Task.tags)], populate_existing=True
    )
    attempt = Attempt(
        job_id=job_id,
        number=claimed.attempt,
        max_attempts=claimed.max_attempts,
        task_id=task.id,
        task={**_TASK_DATA.dump(task), "job_id": str(job_id)},
    )
    attempt.task["attempt"] = attempt.number
    started = (
        EventKind.JOB_STARTED,
        f"Processing started (attempt {attempt.number} of {attempt.max_attempts}).",
        attempt.event_data(),
    )
    events = [started, *change_status(task.id, task.status, TaskStatus.IN_PROGRESS, now)]
    record_events([(task.id, event) for event in events], now)
    db.session.commit()
    return attempt


def report(attempt: Attempt, progress: int, message: str) -> None:
    """Records progress (the job's, and a `job_progress` event) and renews the lease, within
    PROGRESS_WRITE_SECONDS. Raises JobStopped once the job is no longer this attempt's."""
    if attempt.lost.is_set():
        raise JobStopped
    if not isinstance(progress, int) or isinstance(progress, bool) or not 0 <= progress <= 100:
        raise ValueError(f"progress must be an integer from 0 to 100, not {progress!r}")
    attempt.progress = progress
    attempt.unwritten.append(
        (EventKind.JOB_PROGRESS, str(message)[:500], attempt.event_data(progress=progress))
    )
    if time.monotonic() - attempt.written_at >= PROGRESS_WRITE_SECONDS:
        _write_progress(attempt)


def _renew_lease(attempt: Attempt) -> bool:
    """The attempt's heartbeat, fenced; commits. False once the job is no longer ours."""
    renewed = db.session.execute(_HEARTBEAT, {**attempt.fence, "now": utcnow()}).rowcount == 1
    db.session.commit()
    if not renewed:
        attempt.lost.set()
    return renewed


def _write_progress(attempt: Attempt) -> None:
    """The progress reported so far, fenced; commits. Raises JobStopped if fenced off."""
    now = utcnow()
    renewed = db.session.execute(
        _PROGRESS, {**attempt.fence, "b_progress": attempt.progress, "now": now}
    )
    if renewed.rowcount != 1:
        db.session.rollback()
        attempt.lost.set()
        raise JobStopped
    record_events([(attempt.task_id, event) for event in attempt.unwritten], now)
    db.session.commit()
    attempt.unwritten.clear()
    attempt.written_at = time.monotonic()


def succeed(attempt: Attempt, result: Any) -> bool:
    """Finishes the job and completes the task, unless the attempt was fenced off. Commits."""
    outcome = None if result is None else str(result)[:MAX_RESULT_LENGTH]
    now = utcnow()
    finished = db.session.execute(_SUCCEED, {**attempt.fence, "b_result": outcome, "now": now})
    if finished.rowcount != 1:
        db.session.rollback()
        log.info("job %s attempt %s: finished too late, discarded", attempt.job_id, attempt.number)
        return False
    events = [
        *attempt.unwritten,
        (
            EventKind.JOB_SUCCEEDED,
            f"Processing succeeded: {outcome}" if outcome else "Processing succeeded.",
            attempt.event_data(result=outcome),
        ),
        *change_status(
            attempt.task_id, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED, now,
            kind=EventKind.COMPLETED,
        ),
    ]  # fmt: skip
    record_events([(attempt.task_id, event) for event in events], now)
    db.session.commit()
    return True


def fail(attempt: Attempt, error: str) -> bool:
    """Ends the attempt as failed (end_attempt), with the progress it reported written
    first. Fenced; commits."""
    if attempt.unwritten:
        try:
            _write_progress(attempt)
        except JobStopped:
            return False
    return end_attempt(attempt.job_id, attempt.number, error)


def end_attempt(job_id: uuid.UUID, number: int, error: str) -> bool:
    """Ends this attempt of the job as failed, whoever ran it: the job is queued again
    after a backoff while attempts remain, else it fails and so does its task. Does nothing
    if the attempt is over already. Commits, then enqueues the retry."""
    config = current_app.config
    now = utcnow()
    job = db.session.scalar(
        select(Job).where(Job.id == job_id, Job.attempt == number, Job.state == JobState.RUNNING)
        .with_for_update()
    )  # fmt: skip
    if job is None:  # finished, cancelled or taken over meanwhile
        db.session.rollback()
        return False
    final = job.attempt >= job.max_attempts
    backoff = timedelta(seconds=config["JOB_RETRY_BACKOFF_SECONDS"] * 2 ** (job.attempt - 1))
    job.error = error[:MAX_ERROR_LENGTH]
    job.heartbeat_at = None
    if final:
        job.state = JobState.FAILED
        job.finished_at = now
    else:
        job.state = JobState.QUEUED
        job.queued_at = now
        job.retry_at = now + min(backoff, MAX_BACKOFF)
    failed = (
        EventKind.JOB_FAILED,
        f"Attempt {job.attempt} of {job.max_attempts} failed: {job.error}"
        + ("" if final else f" Retrying at {job.retry_at:%H:%M:%S} UTC."),
        {"job_id": str(job.id), "attempt": job.attempt, "error": job.error, "final": final,
         "retry_at": None if final else job.retry_at.isoformat()},
    )  # fmt: skip
    events = [failed]
    if final:
        events += change_status(job.task_id, TaskStatus.IN_PROGRESS, TaskStatus.FAILED, now)
    record_events([(job.task_id, event) for event in events], now)
    db.session.commit()
    if not final:
        enqueue_attempt(job.id, job.attempt + 1, at=job.retry_at)
    return True
