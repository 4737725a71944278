"""Job use cases. API side: ask for processing, read and cancel jobs. Worker side: claim a
job, report its progress, finish it, and recover the ones whose worker died or whose id
Redis lost.

The jobs table is the truth. A worker's every write is fenced by the attempt it claimed
(`WHERE id = :job AND attempt = :mine AND state = 'running'`): a worker that lost its job,
to the reaper or to a cancel, changes nothing, so a re-run never doubles an effect.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import redis
from flask import current_app
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from werkzeug.utils import import_string

from tasktracker import queue
from tasktracker.errors import Conflict, NotFound
from tasktracker.extensions import db
from tasktracker.models import (
    ACTIVE_JOB_STATES,
    EventKind,
    Job,
    JobState,
    Owner,
    Task,
    TaskStatus,
    utcnow,
)
from tasktracker.pagination import Page, SortKey, count, paginate
from tasktracker.processors import JobStopped, Processor
from tasktracker.schemas import PaginationQuerySchema, TaskSchema, load_query
from tasktracker.services.task_changes import (
    STATUS_COLUMNS,
    Event,
    record_events,
    set_status,
    status_change,
)
from tasktracker.services.tasks import get_task, lock_task

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=10)
# Progress is written at most this often: steps reported faster are written together with
# the next write (at the latest, the attempt's end), so fast processors do not pay a
# transaction per step, and slow ones show every step as it happens.
PROGRESS_WRITE_SECONDS = 0.05
# What a processor is given (built once, not per job: building a schema costs more than
# using it).
_TASK_DATA = TaskSchema(exclude=("url",))
_PAGE_QUERY = PaginationQuerySchema()
# The worker's path (claim, report, succeed) writes with Core statements on the tables: the
# ORM's unit of work and its bulk-update machinery would cost more than the database does.
# They are built once, with bound parameters: building a statement and its cache key at
# each call cost more than running it (a job went from 8.7 to 6.4 ms, run in process). A
# parameter named like a column the statement sets is reserved: hence the `b_` names.
JOBS = Job.__table__
TASKS = Task.__table__
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
_FENCE = (
    JOBS.c.id == bindparam("job_id"),
    JOBS.c.attempt == bindparam("b_attempt"),
    JOBS.c.state == JobState.RUNNING,
)
_HEARTBEAT = update(JOBS).where(*_FENCE).values(heartbeat_at=bindparam("now"))
_PROGRESS = (
    update(JOBS)
    .where(*_FENCE)
    .values(progress=bindparam("b_progress"), heartbeat_at=bindparam("now"))
)
_SUCCEED = (
    update(JOBS)
    .where(*_FENCE)
    .values(
        state=JobState.SUCCEEDED,
        progress=100,
        result=bindparam("b_result"),
        error=None,
        finished_at=bindparam("now"),
        heartbeat_at=None,
    )
)
_SET_STATUS = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("task_id"), TASKS.c.status == bindparam("previous"))
    .values(
        {name: bindparam(f"b_{name}") for name in STATUS_COLUMNS} | {"version": TASKS.c.version + 1}
    )
)
MAX_ERROR_LENGTH = 2000
MAX_RESULT_LENGTH = 500


# --- API side ----------------------------------------------------------------------------


def request_processing(owner: Owner, task_id: int) -> Job:
    """Commits a queued job and its `job_queued` event, then enqueues the job's id; 409 while
    the task has a job queued or running, or is in the trash."""
    task = lock_task(owner, task_id)
    if task.deleted_at is not None:
        raise Conflict("The task is in the trash; restore it first.", code="task_deleted")
    busy = Conflict("The task already has a job queued or running.", code="job_active")
    if db.session.scalar(_active_jobs_of([task.id])) is not None:
        raise busy
    job = Job(id=uuid.uuid4(), task=task, max_attempts=current_app.config["JOB_MAX_ATTEMPTS"])
    db.session.add(job)
    queued = (EventKind.JOB_QUEUED, "Queued for processing.", {"job_id": str(job.id)})
    record_events([(task.id, queued)], utcnow())
    try:
        db.session.commit()
    except IntegrityError:  # another request queued one first (uq_jobs_task_id_active)
        db.session.rollback()
        raise busy from None
    _enqueue(job.id, 1)
    return job


def get_job(owner: Owner, job_id: uuid.UUID, *, for_update: bool = False) -> Job:
    """The owner's job; 404 for anyone else's, as for a missing one."""
    query = select(Job).join(Job.task).where(Job.id == job_id, Task.owner_id == owner.id)
    if for_update:
        query = query.with_for_update(of=Job).execution_options(populate_existing=True)
    job = db.session.scalar(query)
    if job is None:
        raise NotFound("No such job.", code="job_not_found")
    return job


def list_jobs(owner: Owner, task_id: int, args: Mapping[str, Any]) -> Page[Job]:
    """The task's jobs, newest first."""
    task = get_task(owner, task_id)
    params = load_query(_PAGE_QUERY, args)
    of_task = Job.task_id == task.id
    return paginate(
        select(Job).where(of_task),
        count(select(func.count()).select_from(Job).where(of_task)),
        [SortKey(Job.created_at, descending=True), SortKey(Job.id, descending=True)],
        params,
    )


def cancel_job(owner: Owner, job_id: uuid.UUID) -> Job:
    """A queued job will never run; a running one stops at its next step (its writes are
    fenced off from now on). A task the job had taken goes back to pending. Idempotent;
    409 for a job that already finished. Commits."""
    job = get_job(owner, job_id, for_update=True)
    if job.state == JobState.CANCELLED:
        return job
    if not job.active:
        raise Conflict(f"The job already {job.state}.", code="job_finished")
    _cancel(job, lock_task(owner, job.task_id), "Processing cancelled.")
    db.session.commit()
    return job


def cancel_active_jobs(tasks: Sequence[Task], message: str) -> None:
    """Cancels these tasks' queued or running jobs (one query for them all), as cancel_job
    does; the caller commits (moving tasks to the trash does, in the same unit of work)."""
    by_id = {task.id: task for task in tasks}
    active = _active_jobs_of(by_id).order_by(Job.task_id).with_for_update()
    for job in db.session.scalars(active):
        _cancel(job, by_id[job.task_id], message)


def _cancel(job: Job, task: Task, message: str) -> None:
    was = job.state
    job.state = JobState.CANCELLED
    job.finished_at = utcnow()
    job.heartbeat_at = job.retry_at = None
    cancelled = (
        EventKind.JOB_CANCELLED,
        message,
        {"job_id": str(job.id), "attempt": job.attempt, "was": was},
    )
    record_events([(task.id, cancelled)], job.finished_at)
    if job.attempt > 0 and task.status == TaskStatus.IN_PROGRESS:
        set_status(task, TaskStatus.PENDING, EventKind.STATUS_CHANGED)


def count_by_state() -> dict[str, int]:
    """How many jobs are in each state, for the metrics."""
    counts = dict(db.session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    return {state.value: counts.get(state.value, 0) for state in JobState}


def _active_jobs_of(task_ids: Collection[int]) -> Any:
    return select(Job).where(Job.task_id.in_(task_ids), Job.state.in_(ACTIVE_JOB_STATES))


# --- worker side -------------------------------------------------------------------------


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
        """The parameters of _FENCE, which every write of this attempt is conditional on."""
        return {"job_id": self.job_id, "b_attempt": self.number}

    def event_data(self, **extra: Any) -> dict[str, Any]:
        return {"job_id": str(self.job_id), "attempt": self.number, **extra}


def load_processor() -> Processor:
    """The callable TASK_PROCESSOR names (tasktracker.processors documents the contract)."""
    processor = import_string(current_app.config["TASK_PROCESSOR"])
    if not callable(processor):
        raise TypeError(f"TASK_PROCESSOR {current_app.config['TASK_PROCESSOR']} is not callable")
    return processor


def run_job(job_id: uuid.UUID) -> None:
    """One attempt: claim, process step by step, finish. Does nothing if the job cannot be
    claimed (cancelled, finished, taken by another worker, or not due yet)."""
    attempt = claim(job_id)
    if attempt is None:
        log.info("job %s: not claimable, skipped", job_id)
        return
    processor = load_processor()
    with _heartbeat(attempt):
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
    """Takes the job if it is queued and due: one conditional UPDATE, which a second
    claimant loses. Puts the task in progress. Commits."""
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
    events = [
        (
            EventKind.JOB_STARTED,
            f"Processing started (attempt {attempt.number} of {attempt.max_attempts}).",
            attempt.event_data(),
        )
    ]
    events += _set_task_status(
        task.id, task.status, TaskStatus.IN_PROGRESS, EventKind.STATUS_CHANGED, now
    )
    _insert_events(task.id, events, now)
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
    _insert_events(attempt.task_id, attempt.unwritten, now)
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
    ]
    events += _set_task_status(
        attempt.task_id, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED, EventKind.COMPLETED, now
    )
    _insert_events(attempt.task_id, events, now)
    db.session.commit()
    return True


def fail(attempt: Attempt, error: str) -> bool:
    """Ends the attempt as failed: the job is queued again after a backoff while attempts
    remain, else it fails and so does the task. Fenced; commits, then enqueues a retry."""
    if attempt.unwritten:
        try:
            _write_progress(attempt)
        except JobStopped:
            return False
    return _end_attempt(attempt.job_id, attempt.number, error)


def reap() -> dict[str, int]:
    """Recovery, run by every worker on a timer (and at its start):
    - a running job whose lease ran out (its worker died: SIGKILL, OOM, lost machine) is
      retried or failed;
    - a queued job that is due but that Redis does not hold (Redis restarted empty, or the
      enqueue after the commit failed) is enqueued again.
    Safe to run in many workers at once: every change is a fenced UPDATE."""
    config = current_app.config
    now = utcnow()
    lease = timedelta(seconds=config["JOB_LEASE_SECONDS"])
    # Leave a just-queued job to whoever is enqueueing it right after their commit.
    grace = timedelta(seconds=config["REAPER_INTERVAL_SECONDS"])
    expired = db.session.execute(
        select(Job.id, Job.attempt).where(
            Job.state == JobState.RUNNING, Job.heartbeat_at < now - lease
        )
    ).all()
    due = db.session.execute(
        select(Job.id, Job.attempt).where(
            Job.state == JobState.QUEUED,
            Job.queued_at < now - grace,
            or_(Job.retry_at.is_(None), Job.retry_at < now - grace),
        )
    ).all()
    db.session.rollback()
    silence = f"Its worker stopped answering (no heartbeat for {lease.total_seconds():g} s)."
    abandoned = sum(_end_attempt(job_id, number, silence) for job_id, number in expired)
    lost = [(job_id, done + 1) for job_id, done in due if not queue.held(str(job_id), done + 1)]
    for job_id, attempt in lost:
        _enqueue(job_id, attempt)
    if abandoned or lost:
        log.warning("reaper: %s abandoned job(s) taken back, %s lost one(s) re-enqueued",
                    abandoned, len(lost))  # fmt: skip
    return {"abandoned": abandoned, "requeued": len(lost)}


def abandon_running(job_id: uuid.UUID, reason: str) -> bool:
    """The worker running this job is known dead (its work horse was killed): end the
    attempt now rather than when its lease runs out. Commits."""
    number = db.session.scalar(
        select(Job.attempt).where(Job.id == job_id, Job.state == JobState.RUNNING)
    )
    db.session.rollback()
    return number is not None and _end_attempt(job_id, number, reason)


def _end_attempt(job_id: uuid.UUID, number: int, error: str) -> bool:
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
    task = db.session.get(Task, job.task_id, with_for_update=True, populate_existing=True)
    failed = (
        EventKind.JOB_FAILED,
        f"Attempt {job.attempt} of {job.max_attempts} failed: {job.error}"
        + ("" if final else f" Retrying at {job.retry_at:%H:%M:%S} UTC."),
        {"job_id": str(job.id), "attempt": job.attempt, "error": job.error, "final": final,
         "retry_at": None if final else job.retry_at.isoformat()},
    )  # fmt: skip
    record_events([(task.id, failed)], now)
    if final:
        set_status(task, TaskStatus.FAILED, EventKind.STATUS_CHANGED)
    db.session.commit()
    if not final:
        _enqueue(job.id, job.attempt + 1, at=job.retry_at)
    return True


def _set_task_status(
    task_id: int, expected: str, status: TaskStatus, kind: EventKind, now: datetime
) -> list[Event]:
    """The worker's status change, as one UPDATE (the rule of `status_change`, without the
    ORM's flush); returns the event to log, if any. The UPDATE is conditional on the status
    the worker expects (the one it read, or `in_progress` at the end of a run), so the
    event's "from" is right; if someone changed the status meanwhile, the status is read
    again, locked, and the change made from that."""
    previous: str | None = expected
    while previous is not None and previous != status:
        values, event = status_change(previous, status, kind, now)
        params = {f"b_{name}": value for name, value in values.items()}
        changed = db.session.execute(
            _SET_STATUS, {"task_id": task_id, "previous": previous, **params}
        )
        if changed.rowcount == 1:
            return [event]
        previous = db.session.scalar(
            select(TASKS.c.status).where(TASKS.c.id == task_id).with_for_update()
        )
    return []


def _insert_events(task_id: int, events: list[Event], now: datetime) -> None:
    record_events([(task_id, event) for event in events], now)


def _enqueue(job_id: uuid.UUID, attempt: int, *, at: Any = None) -> None:
    """After the commit. If Redis is unreachable the job stays queued in the database, and
    the reaper enqueues it once Redis is back."""
    try:
        queue.enqueue_processing(str(job_id), attempt, at=at)
    except (redis.RedisError, OSError) as error:
        log.warning("job %s: could not enqueue (%r); the reaper will retry", job_id, error)


@contextmanager
def _heartbeat(attempt: Attempt) -> Iterator[None]:
    """Renews the attempt's lease every JOB_HEARTBEAT_SECONDS from a thread of its own, so
    that a processor may take longer than the lease between two reports; but not past
    JOB_TIMEOUT_SECONDS. An attempt is stopped at its timeout (SIGALRM, or its work horse
    killed); one that cannot be (stuck in C code, which a signal does not interrupt) then
    loses its lease, and the reaper takes the job back from it."""
    app = current_app._get_current_object()
    stop = threading.Event()
    deadline = time.monotonic() + app.config["JOB_TIMEOUT_SECONDS"]

    def beat() -> None:
        while not stop.wait(app.config["JOB_HEARTBEAT_SECONDS"]):
            if time.monotonic() > deadline:
                past = "job %s attempt %s: past its timeout, its lease is no longer renewed"
                log.warning(past, attempt.job_id, attempt.number)
                return
            try:
                with app.app_context():
                    renewed = db.session.execute(
                        _HEARTBEAT, {**attempt.fence, "now": utcnow()}
                    ).rowcount
                    db.session.commit()
            except Exception:  # the database blinked: try again at the next beat
                log.warning("job %s: heartbeat failed", attempt.job_id, exc_info=True)
                continue
            if renewed != 1:
                attempt.lost.set()
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{attempt.job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
