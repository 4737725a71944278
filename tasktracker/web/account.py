"""The account page: who is signed in, the password, and the signed-in browsers."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template
from flask_login import current_user, login_required, login_user

from tasktracker.errors import ValidationFailed
from tasktracker.http_extensions import auth_rate_limit
from tasktracker.services import accounts
from tasktracker.web.blueprint import bp, field_errors, form_data, see_other


@bp.get("/account")
@login_required
def account() -> Any:
    return render_template("account/index.html", errors={})


@bp.post("/account/password")
@login_required
@auth_rate_limit()
def change_password() -> Any:
    """A new password ends every session of the account: any other browser, or a stolen
    cookie, is signed out; this browser continues in a new session."""
    try:
        session = accounts.change_password(current_user, form_data())
    except ValidationFailed as error:
        return render_template("account/index.html", errors=field_errors(error)), 422
    login_user(session)
    flash("Password changed. Every other browser is signed out.", "success")
    return see_other("web.account")
