"""Headers on every response: security (SPEC §8), and Retry-After only where it means something."""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


def register_security_headers(app: Flask) -> None:
    defaults = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if app.config["HSTS"]:
        defaults.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        # Each unless the view set its own (the API docs pages need inline styles).
        present = set(headers.keys(lower=True))
        headers.extend([(name, value) for name, value in defaults if name.lower() not in present])
        # Flask-Limiter sends Retry-After with every response; it means something on 429/503.
        if "retry-after" in present and response.status_code not in (429, 503):
            del headers["Retry-After"]
        return response
