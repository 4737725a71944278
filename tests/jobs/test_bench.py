"""`flask bench jobs` runs end to end and prints its figures (a program, not a timed test:
nothing here asserts a speed)."""

from __future__ import annotations

import os
import re
import subprocess

from tests.jobs.conftest import FLASK, ROOT


def test_bench_jobs_prints_the_rates_and_the_rq_baseline(
    jobs_database: str, redis_url: str
) -> None:
    env = {
        **os.environ,
        "TASKTRACKER_ENV": "testing",
        "DATABASE_URL": jobs_database,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test",
        "LOG_LEVEL": "WARNING",
    }
    run = subprocess.run(
        [str(FLASK), "--app", "wsgi", "bench", "jobs", "--tasks", "20"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    enqueued = re.search(r"enqueued (\d+) jobs in [\d.]+ s \(([\d,]+) jobs/s", out)
    assert enqueued, out
    count = int(enqueued.group(1))
    assert 0 < count <= 20
    assert f"processed {count} of {count} jobs with 1 --no-fork worker(s)" in out
    assert re.search(r"[\d,]+ tasks/s in all, [\d,]+ tasks/s per worker", out), out
    peak = re.search(
        r"peak RSS of each worker process \(tasktracker:create_worker_app\): ([\d.]+) MB", out
    )
    assert peak, out
    assert 20 < float(peak.group(1)) < 500  # a real process's, read while it ran
    assert re.search(rf"baseline, RQ alone: {count} jobs that do nothing", out), out
    ratio = re.search(r"runs at x([\d.]+) of RQ's own rate", out)
    assert ratio, out
    assert float(ratio.group(1)) > 0
