"""Extension objects of the HTTP side (the API and the pages), created unbound and
initialised by `create_app`: CSRF, rate limits, sign-in, the cookie session and the `id`
URL converter. The worker's application imports none of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, current_app
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from werkzeug.routing import IntegerConverter


class IdConverter(IntegerConverter):
    """`<id:...>`: a row id from 1 to 2**63 - 1, so a huge number is a 404, not an overflow.
    ASCII digits only: werkzeug's `\\d+` would take any Unicode digit (fullwidth `１`), which
    int() reads as an id."""

    MAX = 2**63 - 1
    regex = "[0-9]+"

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=self.MAX)


csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def auth_rate_limit(*, methods: list[str] | None = None) -> Any:
    """Sign-in, registration and token creation: RATELIMIT_AUTH per client address (§8)."""
    return limiter.limit(
        lambda: current_app.config["RATELIMIT_AUTH"], key_func=get_remote_address, methods=methods
    )


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions for the pages. A request for which `sessionless(path)`
    holds (the API's: it never reads sessions) gets Flask's null session, neither read from
    a cookie nor saved (so no `Vary: Cookie` either); nor does a request that carries no
    session cookie build a signer, nor one that never touched its session read the cookie
    settings."""

    def __init__(self, sessionless: Callable[[str], bool]) -> None:
        self.sessionless = sessionless

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.sessionless(request.path):
            return self.make_null_session(app)
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


login_manager = LoginManager()
login_manager.login_view = "web.sign_in"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"
