"""The code's layout, read from its imports: no circle, dependencies pointing one way, and
a worker process that imports nothing of the HTTP side."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tasktracker"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str:
    """The module an import names: `from tasktracker.api import blp` is `tasktracker.api`,
    `from tasktracker.bench import twin` is `tasktracker.bench.twin`."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(path: Path) -> set[str]:
    """The app's modules that this one imports, anywhere in it (a function's import too:
    an import deferred to break a circle is still one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {_resolve(name) for name in names if name.startswith("tasktracker")}
    return found - {_module_name(path)}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return circles


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back() -> None:
    assert _circles(GRAPH) == []


def _in(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


# The sides that call the services: nothing below them may import them.
CALLERS = (
    "tasktracker.api",
    "tasktracker.web",
    "tasktracker.cli",
    "tasktracker.bench",
    "tasktracker.http_extensions",
    "tasktracker.metrics",
    "tasktracker.ops",
)


@pytest.mark.parametrize(
    "lower",
    [
        "tasktracker.services",
        "tasktracker.models",
        "tasktracker.schemas",
        "tasktracker.errors",
        "tasktracker.extensions",
        "tasktracker.database",
        "tasktracker.pagination",
    ],
)
def test_the_lower_layers_import_no_caller(lower: str) -> None:
    upward = {
        (module, imported)
        for module, imports in GRAPH.items()
        if _in(module, lower)
        for imported in imports
        if _in(imported, *CALLERS) or imported == "tasktracker"
    }
    assert upward == set()


def test_the_services_reach_processing_by_its_queue_alone() -> None:
    reached = {
        imported
        for module, imports in GRAPH.items()
        if _in(module, "tasktracker.services")
        for imported in imports
        if _in(imported, "tasktracker.processing")
    }
    assert reached == {"tasktracker.processing.queue"}
    assert GRAPH["tasktracker.processing.queue"] == {"tasktracker.extensions"}


def test_processing_imports_nothing_of_the_http_side() -> None:
    imported = set().union(*(GRAPH[m] for m in GRAPH if _in(m, "tasktracker.processing")))
    assert {m for m in imported if _in(m, *CALLERS)} == set()


# What serving HTTP brings in, which a worker has no use for.
HTTP_LIBRARIES = {
    "flask_wtf", "flask_limiter", "limits", "flask_smorest", "apispec", "yaml", "fakeredis",
    "prometheus_client",
}  # fmt: skip


def test_the_worker_app_imports_nothing_of_the_http_side(app_env: dict[str, str]) -> None:
    """`flask --app tasktracker:create_worker_app worker` builds this app: its process
    holds none of the web's modules and libraries (memory: docs/benchmarks.md)."""
    program = (
        "import json, sys\n"
        "from tasktracker import create_worker_app\n"
        "app = create_worker_app()\n"
        "print(json.dumps([sorted(sys.modules), sorted(app.cli.commands)]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=app_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules, commands = json.loads(run.stdout.splitlines()[-1])
    ours = {m for m in modules if m.startswith("tasktracker")}
    assert {m for m in ours if _in(m, *CALLERS) and m != "tasktracker.cli"} == set()
    assert {m.split(".")[0] for m in modules} & HTTP_LIBRARIES == set()
    assert commands == ["worker"]
    assert "tasktracker.processing.workers" in ours


@pytest.fixture
def app_env() -> dict[str, str]:
    """The environment the test suite's worker processes run with (PostgreSQL, Redis)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    env["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    return env
