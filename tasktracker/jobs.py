"""RQ entry points: they take ids and call a service."""

from __future__ import annotations

import uuid

from tasktracker.services.jobs import run_job


def process_task(job_id: str) -> None:
    """One attempt at a job (enqueued by id, tasktracker.queue.PROCESS_TASK)."""
    run_job(uuid.UUID(job_id))
