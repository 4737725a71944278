"""The HTML pages: the blueprint (blueprint.py, with what its views share) and its views,
which attach themselves to it when imported here."""

from __future__ import annotations

# The views attach themselves to `bp`.
from tasktracker.web import account, auth, tasks, tokens  # noqa: F401
from tasktracker.web.blueprint import bp

__all__ = ["bp"]
