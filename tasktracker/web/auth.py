"""Sign up, sign in, sign out. Sessions are Flask-Login's; the API never reads them."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template, request
from flask_login import current_user, login_required, login_user, logout_user

from tasktracker.errors import AppError
from tasktracker.http_extensions import auth_rate_limit
from tasktracker.services import accounts
from tasktracker.web.blueprint import back_to, bp, field_errors, form_data, see_other


@bp.get("/")
def home() -> Any:
    return see_other("web.list_tasks" if current_user.is_authenticated else "web.sign_in")


@bp.route("/signup", methods=["GET", "POST"])
@auth_rate_limit(methods=["POST"])
def sign_up() -> Any:
    if request.method == "GET":
        return render_template("auth/signup.html", values={}, errors={})
    values = form_data()
    try:
        user = accounts.register_user(values)
    except AppError as error:
        values.pop("password", None)  # never sent back into the page
        return render_template(
            "auth/signup.html", values=values, errors=field_errors(error), error=error.message
        ), error.status
    login_user(accounts.start_session(user))
    flash(f"Welcome, {user.name}! Your account is ready.", "success")
    return see_other("web.list_tasks")


@bp.route("/signin", methods=["GET", "POST"])
@auth_rate_limit(methods=["POST"])
def sign_in() -> Any:
    if request.method == "GET":
        return render_template("auth/signin.html", values={}, next=request.args.get("next"))
    email = request.form.get("email", "")
    user = accounts.authenticate(email, request.form.get("password", ""))
    if user is None:
        return render_template(
            "auth/signin.html",
            values={"email": email},
            next=request.form.get("next"),
            error="That email and password do not match an account.",
        ), 401
    login_user(accounts.start_session(user))
    flash(f"Signed in as {user.email}.", "success")
    return back_to("web.list_tasks")


@bp.post("/signout")
def sign_out() -> Any:
    """Ends this browser's session (any copy of its cookie with it)."""
    if current_user.is_authenticated:
        accounts.end_session(current_user.session)
    logout_user()
    flash("You are signed out.", "info")
    return see_other("web.sign_in")


@bp.post("/signout/everywhere")
@login_required
def sign_out_everywhere() -> Any:
    """Ends every session of the account, in every browser, this one included."""
    ended = accounts.end_all_sessions(current_user)
    logout_user()
    flash(f"You are signed out everywhere ({ended} session{'s' * (ended != 1)} ended).", "info")
    return see_other("web.sign_in")
