"""What `flask bench http` measures and reports: its routes, one wrk run of a route on one
server, and the summary of the rounds."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import click

SCRIPTS = Path(__file__).with_name("wrk")
# A word of the seed's titles ("the quarterly report").
SEARCH_WORD = "report"
POST_BODY = json.dumps(
    {
        "title": "Benchmark task",
        "description": "Posted by flask bench http.",
        "priority": 4,
        "tags": ["Bench", "load"],
    }
).encode()
WRK_SLACK_SECONDS = 60


@dataclass(frozen=True)
class Route:
    """A measured route: its wrk script, whether the twin serves it, and the read route
    its throughput is set against in the summary."""

    name: str
    script: str
    twin: bool = False
    baseline: str | None = None


ROUTES = {
    route.name: route
    for route in (
        Route("get", "get.lua", twin=True),
        Route("list", "read.lua", twin=True, baseline="get"),
        Route("list_filtered", "read.lua", baseline="get"),
        Route("search", "read.lua", baseline="get"),
        Route("deep", "read.lua", baseline="list"),
        Route("post", "post.lua", twin=True),
        Route("patch", "patch.lua", baseline="get"),
    )
}
READ_PATHS = {
    "list": "/api/tasks",
    "list_filtered": "/api/tasks?status=pending&sort=-priority",
    "search": f"/api/tasks?q={SEARCH_WORD}",
}


@dataclass(frozen=True)
class Run:
    """One wrk run's figures (latencies in microseconds) and the load average after it."""

    round_number: int
    route: str
    target: str
    requests: int
    duration_us: int
    p50_us: int
    p90_us: int
    p99_us: int
    non_2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    reused: int
    load: float
    # CPU time per request of the server's processes and of PostgreSQL's, when /proc tells.
    server_cpu_ms: float | None = None
    database_cpu_ms: float | None = None
    # gunicorn workers replaced during the run (max_requests), read from the server's log.
    recycled: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / max(self.duration_us / 1e6, 1e-9)

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def problem(self) -> str | None:
        """What makes this run's figures untrustworthy, if anything."""
        problems = []
        if self.non_2xx:
            problems.append(f"{self.non_2xx} responses with status >= 400")
        if self.socket_errors:
            problems.append(
                f"socket errors: {self.connect_errors} connect, {self.read_errors} read, "
                f"{self.write_errors} write, {self.timeouts} timeouts"
            )
        if self.reused:
            problems.append(
                f"{self.reused} requests past the end of the id lists (stale If-Match): "
                "seed more --tasks or shorten --duration"
            )
        return "; ".join(problems) or None


def tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU time of a process and its children, live or ended (Linux's /proc: an ended
    child's time is in its parent's cutime and cstime once reaped); None without /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with suppress(OSError, IndexError):
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(
    command: Sequence[str],
    round_number: int,
    route: str,
    target: str,
    token: str,
    duration: int,
    cpu_of: Sequence[int | None] = (),
) -> Run:
    """Runs wrk (bounded by a timeout) and reads the line its script's done() prints; with
    `cpu_of` (the server's and PostgreSQL's root pids), the CPU time each spent a request."""
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_POST_BODY": POST_BODY.decode()}
    before = [tree_cpu_seconds(pid) for pid in cpu_of]
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=duration + WRK_SLACK_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise click.ClickException(f"wrk ({route}, {target}) did not finish in time") from None
    found = re.search(r"^BENCH-RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise click.ClickException(
            f"wrk ({route}, {target}) failed with status {done.returncode}:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    figures = json.loads(found.group(1))
    after = [tree_cpu_seconds(pid) for pid in cpu_of]
    per_request = [
        None if b is None or a is None else 1000 * (a - b) / max(figures["requests"], 1)
        for b, a in zip(before, after, strict=True)
    ]
    server_cpu, database_cpu = [*per_request, None, None][:2]
    return Run(
        round_number,
        route,
        target,
        load=os.getloadavg()[0],
        server_cpu_ms=server_cpu,
        database_cpu_ms=database_cpu,
        **figures,
    )


def _cpu(milliseconds: float | None) -> str:
    return "  -  " if milliseconds is None else f"{milliseconds:5.2f}"


def run_line(run: Run) -> str:
    """One run's figures on one line, flagged when it had errors."""
    line = (
        f"{run.route:<13} {run.target:<4} {run.per_second:9,.1f} req/s  "
        f"p50 {run.p50_us / 1000:7.2f} ms  p99 {run.p99_us / 1000:7.2f} ms  "
        f"cpu/req {_cpu(run.server_cpu_ms)} + db {_cpu(run.database_cpu_ms)} ms  "
        f"non-2xx {run.non_2xx}  socket errors {run.socket_errors}  "
        f"recycled {run.recycled}  load {run.load:.2f}"
    )
    return line + ("  <-- ERRORS" if run.problem else "")


def report(runs: Sequence[Run], rounds: int) -> None:
    """The summary table (medians over the rounds, ratios of their req/s), then every run
    that had errors; a ClickException if there was any."""
    medians: dict[tuple[str, str], dict[str, float]] = {}
    for key in dict.fromkeys((run.route, run.target) for run in runs):
        of_key = [run for run in runs if (run.route, run.target) == key]
        medians[key] = {
            "rps": statistics.median(run.per_second for run in of_key),
            "p50": statistics.median(run.p50_us for run in of_key) / 1000,
            "p99": statistics.median(run.p99_us for run in of_key) / 1000,
            "cpu": _median_or_none([run.server_cpu_ms for run in of_key]),
            "db": _median_or_none([run.database_cpu_ms for run in of_key]),
        }
    click.echo(f"\nsummary: medians over {rounds} round(s); the ratios are of req/s:")
    click.echo("  app/twin: the app's over its twin's; a/b: route a's over route b's, one server")
    click.echo("  cpu, db: CPU ms a request took in the server's processes and in PostgreSQL's")
    click.echo(
        f"{'route':<13} {'target':<6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu':>5} "
        f"{'db':>5}  {'app/twin':>8}  ratio to another route"
    )
    for (route, target), figures in medians.items():
        twin = medians.get((route, "twin"))
        vs_twin = f"x{figures['rps'] / twin['rps']:.2f}" if target == "app" and twin else ""
        base = ROUTES[route].baseline
        vs_base = ""
        if base and (base, target) in medians:
            vs_base = f"{route}/{base} x{figures['rps'] / medians[(base, target)]['rps']:.2f}"
        line = (
            f"{route:<13} {target:<6} {figures['rps']:9,.1f} {figures['p50']:8.2f} "
            f"{figures['p99']:8.2f} {_cpu(figures['cpu'])} {_cpu(figures['db'])}  "
            f"{vs_twin:>8}  {vs_base}"
        )
        click.echo(line.rstrip())
    recycled = [run for run in runs if run.recycled]
    if recycled:
        worst = max(recycled, key=lambda run: run.p99_us)
        click.echo(
            f"workers recycled during {len(recycled)} of {len(runs)} runs "
            f"({sum(run.recycled for run in recycled)} in all); the worst p99 of those runs: "
            f"{worst.p99_us / 1000:.2f} ms ({worst.route}, {worst.target})"
        )
    failed = [run for run in runs if run.problem]
    if failed:
        click.echo("\n" + "!" * 78)
        for run in failed:
            click.echo(
                f"ERRORS in round {run.round_number}, {run.route} on the {run.target}: "
                f"{run.problem}"
            )
        click.echo("!" * 78)
        raise click.ClickException(
            f"{len(failed)} of {len(runs)} runs had errors: their figures do not count"
        )


def _median_or_none(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None
