"""`flask --app wsgi bench list`: the list route through the whole app, in process."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import click
from flask import current_app

from tasktracker.bench.group import bench, throwaway_account
from tasktracker.http_extensions import limiter
from tasktracker.services import accounts
from tasktracker.services.seed import seed_tasks


def _median_ms(action: Callable[[], Any], repeat: int) -> float:
    action()  # warm caches and the connection pool
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


@bench.command("list")
@click.option(
    "--tasks",
    "count",
    type=click.IntRange(1_000, 5_000_000),
    default=100_000,
    show_default=True,
    help="How many tasks the benchmark account holds.",
)
@click.option("--per-page", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--repeat", type=click.IntRange(1, 1000), default=30, show_default=True)
def bench_list(count: int, per_page: int, repeat: int) -> None:
    """Time GET /api/tasks through the whole app: the first page against a deep page by
    offset and by cursor, and the common filters. Uses a throwaway account, deleted after."""
    with throwaway_account() as user:
        started = time.perf_counter()
        seed_tasks(user, count, seed=7)
        seeded = time.perf_counter() - started
        click.echo(f"seeded {count:,} tasks in {seeded:.1f} s ({count / seeded:,.0f} tasks/s)")
        token = accounts.issue_token(user, {"name": "bench"}).secret
        limiter.enabled = False  # the benchmark's own requests are not traffic to limit
        client = current_app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def get(query: str) -> Any:
            response = client.get(f"/api/tasks?per_page={per_page}&{query}", headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)
            return response

        live = get("page=1").json["total"]  # the seed puts some in the trash
        deep = max(2, min(500, live // per_page - 1))
        link = get(f"page={deep - 1}").headers["Link"]
        cursor = re.search(r"[?&]cursor=([^&>]+)[^>]*>; rel=\"next\"", link).group(1)
        cases = [
            ("page 1 (default sort)", ""),
            (f"page {deep} by offset", f"page={deep}"),
            (f"page {deep} by cursor", f"cursor={cursor}"),
            ("status=pending", "status=pending"),
            ("sort=-priority", "sort=-priority"),
            ("sort=due_at", "sort=due_at"),
            ("tag=work", "tag=work"),
            ("q=report", "q=report"),
        ]
        baseline = None
        click.echo(f"GET /api/tasks, {per_page} per page, median of {repeat} (in-process):")
        for label, query in cases:
            median = _median_ms(lambda q=query: get(q), repeat)
            baseline = baseline or median
            click.echo(f"  {label:<28} {median:8.2f} ms   x{median / baseline:5.2f}")
