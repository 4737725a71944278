"""Recovery: the jobs whose worker died, and the ones whose id Redis lost.

Run by every worker at its start and then on a timer (processing.workers); safe to run in
many at once: every change is fenced by the attempt it ends.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from tasktracker.extensions import db
from tasktracker.models import Job, JobState, utcnow
from tasktracker.processing.attempts import end_attempt
from tasktracker.processing.queue import enqueue_attempt, held

log = logging.getLogger(__name__)


def reap() -> dict[str, int]:
    """- A running job whose lease ran out (its worker died: SIGKILL, OOM, lost machine) is
      retried or failed;
    - a queued job that is due but that Redis does not hold (Redis restarted empty, or the
      enqueue after the commit failed) is enqueued again.
    Returns how many of each."""
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
    abandoned = sum(end_attempt(job_id, number, silence) for job_id, number in expired)
    lost = [(job_id, done + 1) for job_id, done in due if not held(job_id, done + 1)]
    for job_id, attempt in lost:
        enqueue_attempt(job_id, attempt)
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
    return number is not None and end_attempt(job_id, number, reason)
