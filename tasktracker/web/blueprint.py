"""The HTML blueprint: forms in, the same services the API calls, pages out. Every page
works without JavaScript (forms POST, then redirect with 303); htmx only enhances."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, request, url_for
from flask.blueprints import BlueprintSetupState

from tasktracker.errors import AppError
from tasktracker.http_extensions import login_manager
from tasktracker.models import TaskStatus
from tasktracker.services import accounts

bp = Blueprint("web", __name__)

# How the pages name statuses and priorities: every select, badge and label reads these.
STATUS_LABELS = {status.value: status.value.replace("_", " ").capitalize() for status in TaskStatus}
PRIORITY_LABELS = {5: "Highest", 4: "High", 3: "Normal", 2: "Low", 1: "Lowest"}


@bp.record_once
def _labels(state: BlueprintSetupState) -> None:
    # Globals, not context: the macros (imported without the context) read them too.
    state.app.jinja_env.globals.update(STATUS_LABELS=STATUS_LABELS, PRIORITY_LABELS=PRIORITY_LABELS)


@bp.app_template_filter("options")
def options(labels: dict[Any, str], numbered: bool = False) -> list[tuple[Any, str]]:
    """A select's (value, text) pairs of these labels; `numbered` puts each value before
    its text ("5 · Highest")."""
    return [(value, f"{value} · {text}" if numbered else text) for value, text in labels.items()]


@login_manager.user_loader
def load_user(session: str) -> accounts.Account | None:
    """The signed-in user of the browser's session (what Account.get_id put in the cookie)."""
    return accounts.user_for_session(session)


def see_other(endpoint: str, **values: Any) -> Response:
    """Post/Redirect/Get: 303, so that a reload does not send the form again."""
    return redirect(url_for(endpoint, **values), code=303)


def back_to(fallback: str) -> Response:
    """303 to the page the form came from (the `next` field), if it is on this site."""
    target = request.form.get("next") or request.args.get("next") or ""
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        target = url_for(fallback)
    return redirect(target, code=303)


def form_data() -> dict[str, str]:
    """The submitted form, one value per field (CSRF token and navigation fields aside).
    Browsers send a textarea's line breaks as CRLF: they are stored as the API's clients send
    them, LF, so that saving an untouched description does not count as changing it."""
    return {
        key: value.replace("\r\n", "\n")
        for key, value in request.form.items()
        if key not in ("csrf_token", "next", "version")
    }


def field_errors(error: AppError) -> dict[str, list[str]]:
    """An error's details by form field. The API names a list's item (`tags.1`); a form has
    one field for the list, so the message goes there, saying which item ("Tag 2: ...")."""
    by_field: dict[str, list[str]] = {}
    for key, messages in (error.details or {}).items():
        name, _, index = key.partition(".")
        if index.isdigit():
            item = name.removesuffix("s").capitalize()
            messages = [f"{item} {int(index) + 1}: {message}" for message in messages]
        by_field.setdefault(name, []).extend(messages)
    return by_field
