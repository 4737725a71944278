"""The JSON API: the blueprint (blueprint.py, with what its views share) and its routes,
which attach themselves to it when imported here."""

from __future__ import annotations

# The routes attach themselves to `blp`.
from tasktracker.api import accounts, jobs, tasks  # noqa: F401
from tasktracker.api.blueprint import blp, rest_api

__all__ = ["blp", "rest_api"]
