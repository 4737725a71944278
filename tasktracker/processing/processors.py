"""Task processors: the work a job does for its task.

A processor is any callable named by `TASK_PROCESSOR` (a dotted path) with this signature::

    def processor(task: dict, report: Callable[[int, str], None]) -> str | None: ...

- `task` is the task's data as the API shows it (id, title, description, priority,
  status, due_at, tags, ...), read when the attempt started.
- `report(progress, message)` records progress (0–100) and a short message: the job's
  progress and a `job_progress` event. Call it after each step. It raises
  `JobStopped` when the job was cancelled or another worker took it over: let it
  propagate (clean up in a `finally` if need be).
- Raise any exception to fail the attempt: the job is retried with backoff until
  `JOB_MAX_ATTEMPTS`, then fails, keeping the error's message.
- Return a short result (at most 500 characters), logged with the job.

It runs in a worker with the application context pushed, so it may use the app's
configuration and database. It may run more than once for one job (a worker that dies
mid-job is replaced): make external effects idempotent, for instance keyed by the job id
and attempt the task dict carries as `job_id` and `attempt`. What the job records itself
(progress, events, the outcome) is written once, fenced by the attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import current_app
from werkzeug.utils import import_string

Report = Callable[[int, str], None]
Processor = Callable[[dict[str, Any], Report], "str | None"]


class JobStopped(Exception):
    """The job was cancelled, or its attempt is no longer this worker's."""


def load_processor() -> Processor:
    """The callable TASK_PROCESSOR names."""
    name = current_app.config["TASK_PROCESSOR"]
    processor = import_string(name)
    if not callable(processor):
        raise TypeError(f"TASK_PROCESSOR {name} is not callable")
    return processor


def process_in_steps(task: dict[str, Any], report: Report) -> str:
    """The built-in processor: `PROCESS_STEPS` steps of `PROCESS_STEP_SECONDS` each."""
    steps = current_app.config["PROCESS_STEPS"]
    seconds = current_app.config["PROCESS_STEP_SECONDS"]
    for step in range(1, steps + 1):
        if seconds:  # sleep(0) is no rest either: it still enters the kernel
            time.sleep(seconds)
        report(round(100 * step / steps), f"Step {step} of {steps} done.")
    return f"Processed {task['title']!r} in {steps} steps."
