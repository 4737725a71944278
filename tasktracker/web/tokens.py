"""API tokens: create (the secret shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from flask import flash, make_response, render_template, request
from flask_login import current_user, login_required

from tasktracker.errors import ValidationFailed
from tasktracker.schemas import TokenFormSchema
from tasktracker.services import accounts
from tasktracker.web.blueprint import bp, field_errors, form_data, see_other


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens() -> Any:
    """A new token's secret is shown in the answer to the form itself, never redirected to
    or flashed: it would otherwise sit in a cookie or the history."""
    new, errors, values, status = None, {}, {}, 200
    if request.method == "POST":
        values = form_data()
        try:
            new = accounts.issue_token(current_user, values, schema=TokenFormSchema())
            values = {}
        except ValidationFailed as error:
            errors, status = field_errors(error), 422
    response = make_response(
        render_template(
            "tokens/index.html",
            tokens=accounts.list_tokens(current_user),
            new=new,
            values=values,
            errors=errors,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/tokens/<id:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    accounts.revoke_token(current_user, token_id)
    flash("Token revoked: it no longer opens the API.", "success")
    return see_other("web.tokens")
