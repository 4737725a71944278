"""`flask bench`: the group (group.py, with what its commands share) and its commands,
which attach themselves to it when imported here."""

from __future__ import annotations

# The commands attach themselves to `bench`.
from tasktracker.bench import http, inserts, jobs, listing, wsgi  # noqa: F401
from tasktracker.bench.group import bench

__all__ = ["bench"]
