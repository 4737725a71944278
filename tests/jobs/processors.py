"""Processors for the tests (TASK_PROCESSOR=tests.jobs.processors.<name>). Each records
every step it runs in Redis (`steps:<task id>`, entries "attempt:step:pid"), so a test can
see which attempt ran where, find the work horse to kill, and count what ran twice."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from flask import current_app

from tasktracker.extensions import redis_client
from tasktracker.processing.processors import Report


def _steps(task: dict[str, Any], report: Report) -> None:
    steps = current_app.config["PROCESS_STEPS"]
    for step in range(1, steps + 1):
        redis_client.client.rpush(f"steps:{task['id']}", f"{task['attempt']}:{step}:{os.getpid()}")
        time.sleep(current_app.config["PROCESS_STEP_SECONDS"])
        report(round(100 * step / steps), f"Step {step} of {steps} done.")


def record_steps(task: dict[str, Any], report: Report) -> str:
    _steps(task, report)
    return f"{task['title']} done"


def fail_first_attempts(task: dict[str, Any], report: Report) -> str:
    """Fails while the attempt is at most the number the title ends with ("flaky 2")."""
    _steps(task, report)
    if task["attempt"] <= int(task["title"].split()[-1]):
        raise RuntimeError(f"flaky on attempt {task['attempt']}")
    return "finally"


def always_fail(task: dict[str, Any], report: Report) -> str:
    report(10, "Trying.")
    raise RuntimeError("the processor is broken")


def stuck_first(task: dict[str, Any], report: Report) -> str:
    """Attempt 1 hangs where no signal reaches Python (as in a C call that never returns:
    SIGALRM, the timeout's signal, is blocked) until the test ends; later attempts pass."""
    if task["attempt"] == 1:
        redis_client.client.rpush(f"steps:{task['id']}", f"1:0:{os.getpid()}")
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(120)
    report(100, "Done.")
    return f"done on attempt {task['attempt']}"
