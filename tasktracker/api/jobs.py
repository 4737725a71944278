"""Job routes of SPEC §4: ask for processing, follow and cancel jobs."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request, url_for

from tasktracker.api.blueprint import blp, current_user, errors, paged, query
from tasktracker.api.tasks import TASK_PATH
from tasktracker.schemas import JobPageSchema, JobSchema, PaginationQuerySchema
from tasktracker.services import jobs as service

JOB_PATH = "/jobs/<uuid:job_id>"


@blp.route(TASK_PATH + "/process", methods=["POST"], tags=["jobs"])
@errors(401, 404, 409)
@blp.response(202, JobSchema, headers={"Location": {"schema": {"type": "string"}}})
def process_task(task_id: int) -> Any:
    """Process a task in the background

    Queues a job (202, `Location` of the job). 409 while the task has a job queued or
    running, and for a task in the trash. Follow the job at its URL.
    """
    job = service.request_processing(current_user(), task_id)
    return job, 202, {"Location": url_for("api.get_job", job_id=job.id)}


@blp.route(TASK_PATH + "/jobs", methods=["GET"], tags=["jobs"])
@query(PaginationQuerySchema)
@errors(400, 401, 404)
@blp.response(200, JobPageSchema, headers={"Link": {"schema": {"type": "string"}}})
def list_task_jobs(task_id: int) -> Any:
    """The task's jobs, newest first"""
    return paged(service.list_jobs(current_user(), task_id, request.args))


@blp.route(JOB_PATH, methods=["GET"], tags=["jobs"])
@errors(401, 404)
@blp.response(200, JobSchema)
def get_job(job_id: uuid.UUID) -> Any:
    """Get a job: its state, progress, attempts and error"""
    return service.get_job(current_user(), job_id)


@blp.route(JOB_PATH + "/cancel", methods=["POST"], tags=["jobs"])
@errors(401, 404, 409)
@blp.response(200, JobSchema)
def cancel_job(job_id: uuid.UUID) -> Any:
    """Cancel a job

    A queued job never runs; a running one stops at its next step. Idempotent; 409 once
    the job has succeeded or failed.
    """
    return service.cancel_job(current_user(), job_id)
