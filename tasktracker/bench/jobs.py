"""`flask --app wsgi bench jobs`: processing rate through real workers, against RQ alone, and
the workers' memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click
from flask import current_app
from sqlalchemy import func, select

from tasktracker.bench.group import bench, throwaway_account
from tasktracker.extensions import db
from tasktracker.models import Job, JobState, Task
from tasktracker.processing.queue import get_queue
from tasktracker.services import jobs as job_service
from tasktracker.services.seed import seed_tasks

WORKER_APP = "tasktracker:create_worker_app"


@bench.command("jobs")
@click.option(
    "--tasks",
    "count",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="How many tasks to process.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--fork/--no-fork", default=False, show_default=True, help="Run the workers with --fork."
)
@click.option(
    "--app",
    default=WORKER_APP,
    show_default=True,
    help="The application the workers load (`wsgi` for the web one, to compare memory).",
)
def bench_jobs(count: int, workers: int, fork: bool, app: str) -> None:
    """Enqueue rate, then end-to-end processing rate per worker: `flask worker --burst`
    processes, PROCESS_STEP_SECONDS=0 (each job still claims, reports every step and
    finishes in the database). Needs REDIS_URL, as workers do."""
    config = current_app.config
    if not config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is not set: workers need a shared Redis.")
    with throwaway_account() as user:
        seed_tasks(user, count, seed=11)
        task_ids = db.session.scalars(
            select(Task.id).where(Task.owner_id == user.id, Task.deleted_at.is_(None))
        ).all()
        started = time.perf_counter()
        for task_id in task_ids:
            job_service.request_processing(user, task_id)
        enqueued = time.perf_counter() - started
        click.echo(
            f"enqueued {len(task_ids):,} jobs in {enqueued:.2f} s "
            f"({len(task_ids) / enqueued:,.0f} jobs/s, each a commit then an enqueue)"
        )
        started = time.perf_counter()
        peaks = _run_workers(workers, fork, app)
        wall = time.perf_counter() - started
        first, last, done = db.session.execute(
            select(func.min(Job.started_at), func.max(Job.finished_at), func.count())
            .join(Task)
            .where(Task.owner_id == user.id, Job.state == JobState.SUCCEEDED)
        ).one()
        db.session.rollback()
        busy = (last - first).total_seconds() if done else float("nan")
        rate = done / busy if done else 0.0
        kind = f"{'--fork' if fork else '--no-fork'} worker(s)"
        click.echo(
            f"processed {done:,} of {len(task_ids):,} jobs with {workers} {kind}, "
            f"{config['PROCESS_STEPS']} steps each, in {busy:.2f} s from the first start "
            f"to the last finish ({wall:.2f} s with the workers' start-up)"
        )
        click.echo(f"  {rate:,.0f} tasks/s in all, {rate / workers:,.0f} tasks/s per worker")
        click.echo(
            f"  peak RSS of each worker process ({app}): "
            + ", ".join(f"{peak:.1f} MB" for peak in peaks)
        )
    if not done:
        raise click.ClickException("no job succeeded: see the workers' log above")
    baseline = _rq_baseline(len(task_ids), workers, fork)
    click.echo(
        f"baseline, RQ alone: {len(task_ids):,} jobs that do nothing, through the same "
        f"{kind}: {baseline:,.0f} jobs/s in all"
    )
    # A worker's time per job, and what of it RQ itself takes (the baseline's time per job).
    per_job, rq_own = 1000 * workers / rate, 1000 * workers / baseline
    click.echo(
        f"  processing runs at x{rate / baseline:.2f} of RQ's own rate: a worker spends "
        f"{per_job:.1f} ms per job, {rq_own:.1f} ms of them in RQ and "
        f"{per_job - rq_own:.1f} ms in the job (claim, progress, finish)"
    )


def do_nothing() -> None:
    """The baseline's job: what RQ costs per job when the job itself costs nothing."""


def _run_workers(workers: int, fork: bool, app: str = WORKER_APP) -> list[float]:
    """`flask worker --burst` processes, started together and waited for; returns the peak
    RSS of each, in MB (its own: not its scheduler's, nor with --fork its work horses'), as
    its VmHWM last read before it ended."""
    env = {**os.environ, "PROCESS_STEP_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "flask", "--app", app, "worker", "--burst"]
    command += ["--fork" if fork else "--no-fork"]
    processes = [subprocess.Popen(command, env=env) for _ in range(workers)]
    peaks = [0.0] * workers
    while any(process.poll() is None for process in processes):
        for index, process in enumerate(processes):
            peaks[index] = max(peaks[index], _peak_rss(process.pid))
        time.sleep(0.05)
    return peaks


def _peak_rss(pid: int) -> float:
    """A live process's peak RSS in MB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _rq_baseline(count: int, workers: int, fork: bool) -> float:
    """Jobs per second through the same workers when each job does nothing, from RQ's own
    timestamps (first start to last end)."""
    queue = get_queue()
    jobs = [queue.enqueue(do_nothing, result_ttl=600) for _ in range(count)]
    try:
        _run_workers(workers, fork)
        for job in jobs:
            job.refresh()
        ran = [job for job in jobs if job.ended_at is not None]
        if not ran:
            raise click.ClickException("the baseline's jobs did not run")
        first = min(job.started_at for job in ran)
        last = max(job.ended_at for job in ran)
        return len(ran) / max((last - first).total_seconds(), 1e-6)
    finally:
        for job in jobs:
            job.delete()
