"""Job use cases of a request: ask for processing, read jobs, cancel them.

What runs a job (the queue, the attempt protocol, recovery, the workers) is
tasktracker/processing; this service enqueues through its queue, after its commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tasktracker.errors import Conflict, NotFound, TaskInTrash
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
from tasktracker.pagination import Page, SortKey, first_page, paginate_rows
from tasktracker.processing.queue import enqueue_attempt
from tasktracker.schemas import PaginationQuerySchema, load_query
from tasktracker.services.task_changes import lock, record_events, save_status
from tasktracker.services.task_records import TaskRecord, get_task

_PAGE_QUERY = PaginationQuerySchema()


def request_processing(owner: Owner, task_id: int) -> Job:
    """Commits a queued job and its `job_queued` event, then enqueues the job's id; 409 while
    the task has a job queued or running, or is in the trash."""
    task = lock(owner, task_id)
    if task.deleted_at is not None:
        raise TaskInTrash()
    busy = Conflict("The task already has a job queued or running.", code="job_active")
    if db.session.scalar(_active_jobs_of([task.id])) is not None:
        raise busy
    job = Job(id=uuid.uuid4(), task_id=task.id, max_attempts=current_app.config["JOB_MAX_ATTEMPTS"])
    db.session.add(job)
    queued = (EventKind.JOB_QUEUED, "Queued for processing.", {"job_id": str(job.id)})
    record_events([(task.id, queued)], utcnow())
    try:
        db.session.commit()
    except IntegrityError:  # another request queued one first (uq_jobs_task_id_active)
        db.session.rollback()
        raise busy from None
    enqueue_attempt(job.id, 1)
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


def list_jobs(
    owner: Owner, task_id: int, args: Mapping[str, Any] = {}, *, per_page: int | None = None
) -> Page[Job]:
    """The task's jobs, newest first: the page the query `args` ask for, or the first
    `per_page` jobs."""
    task = get_task(owner, task_id)
    params = load_query(_PAGE_QUERY, args) if per_page is None else first_page(per_page)
    keys = [SortKey(Job.created_at, descending=True), SortKey(Job.id, descending=True)]
    return paginate_rows(Job, Job.task_id == task.id, keys, params)


def cancel_job(owner: Owner, job_id: uuid.UUID) -> Job:
    """A queued job will never run; a running one stops at its next step (its writes are
    fenced off from now on). A task the job had taken goes back to pending. Idempotent;
    409 for a job that already finished. Commits."""
    job = get_job(owner, job_id, for_update=True)
    if job.state == JobState.CANCELLED:
        return job
    if not job.active:
        raise Conflict(f"The job already {job.state}.", code="job_finished")
    _cancel(job, lock(owner, job.task_id), "Processing cancelled.")
    db.session.commit()
    return job


def cancel_active_jobs(tasks: Sequence[TaskRecord], message: str) -> None:
    """Cancels these tasks' queued or running jobs (one query for them all), as cancel_job
    does; the caller commits (moving tasks to the trash does, in the same unit of work)."""
    by_id = {task.id: task for task in tasks}
    active = _active_jobs_of(by_id).order_by(Job.task_id).with_for_update()
    for job in db.session.scalars(active):
        _cancel(job, by_id[job.task_id], message)


def _cancel(job: Job, task: TaskRecord, message: str) -> None:
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
        save_status(task, TaskStatus.PENDING, EventKind.STATUS_CHANGED)


def count_by_state() -> dict[str, int]:
    """How many jobs are in each state, for the metrics."""
    counts = dict(db.session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    return {state.value: counts.get(state.value, 0) for state in JobState}


def _active_jobs_of(task_ids: Collection[int]) -> Any:
    return select(Job).where(Job.task_id.in_(task_ids), Job.state.in_(ACTIVE_JOB_STATES))
