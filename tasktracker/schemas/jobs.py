"""Jobs as clients see them."""

from __future__ import annotations

from marshmallow import (
    Schema,
    fields,
)

from tasktracker.models import JobState
from tasktracker.schemas.base import page_schema, path_for


class JobSchema(Schema):
    """A job: one request to process a task."""

    id = fields.UUID(required=True)
    task_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": ["process"]})
    state = fields.String(required=True, metadata={"enum": list(JobState)})
    progress = fields.Integer(required=True, metadata={"description": "0 to 100"})
    attempt = fields.Integer(required=True, metadata={"description": "Attempts started so far"})
    max_attempts = fields.Integer(required=True)
    error = fields.String(
        required=True, allow_none=True, metadata={"description": "The last attempt's error"}
    )
    result = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "When the last attempt began"}
    )
    retry_at = fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "When a retry may begin"}
    )
    finished_at = fields.AwareDateTime(required=True, allow_none=True)
    url = fields.Function(lambda job: path_for("api.get_job", job_id=job.id), required=True)
    task_url = fields.Function(
        lambda job: path_for("api.get_task", task_id=job.task_id), required=True
    )


JobPageSchema = page_schema("JobPage", JobSchema)
