"""Task Tracker: the application factories.

`create_app` builds the web application, which every `flask` command but the worker's
uses; `create_worker_app` builds what `flask worker` needs (the configuration, the
database, Redis and the worker command) without the HTTP side, whose modules and libraries
a worker process then never imports (tests/test_layout.py checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from tasktracker import database
from tasktracker.cli import register_commands, worker
from tasktracker.config import load_config, startup_warnings
from tasktracker.extensions import db, redis_client
from tasktracker.observability import configure_logging
from tasktracker.processing import workers


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The web application; `config` overrides what the environment says."""
    app = _create(config)
    register_http(app)
    workers.init_app(app)
    register_commands(app)
    return app


def create_worker_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The worker's application (`flask --app tasktracker:create_worker_app worker`)."""
    app = _create(config)
    app.cli.add_command(worker)
    return app


def _create(config: Mapping[str, Any] | None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.from_mapping(load_config(app.instance_path, config))
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app)
    for warning in startup_warnings(app.config):
        app.logger.warning(warning)
    db.init_app(app)
    database.init_app(app)
    redis_client.init_app(app)
    return app


def register_http(app: Flask) -> None:
    """What serving HTTP adds: request logging and security headers, sessions, CSRF,
    sign-in, rate limits, the API and its documentation, the pages, the health checks,
    the metrics and the error pages. Imported here, not with the package, so that the
    worker's application does not import them."""
    from tasktracker import metrics, ops, web
    from tasktracker.api import blp as api_blueprint
    from tasktracker.api import docs as api_docs
    from tasktracker.api import rest_api
    from tasktracker.errors import register_error_handlers, wants_json
    from tasktracker.headers import register_security_headers
    from tasktracker.http_extensions import (
        CookieSessions,
        IdConverter,
        csrf,
        limiter,
        login_manager,
    )
    from tasktracker.observability import register_request_logging

    # after_request hooks run last-registered first: these two see the final response.
    register_request_logging(app)
    register_security_headers(app)
    app.session_interface = CookieSessions(sessionless=wants_json)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    app.url_map.converters["id"] = IdConverter
    rest_api.init_app(
        app,
        spec_kwargs={
            "info": {
                "description": "Tasks with tags, an event log and background processing. "
                "Authenticate with `Authorization: Bearer <token>`; create a token with "
                "`POST /api/tokens` and HTTP Basic (email and password)."
            },
            "security": [{"bearerAuth": []}],
        },
    )
    rest_api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    rest_api.spec.components.security_scheme("basicAuth", {"type": "http", "scheme": "basic"})
    rest_api.register_blueprint(api_blueprint)
    csrf.exempt(api_blueprint)  # bearer tokens only: no cookie, so nothing to forge
    app.register_blueprint(api_docs.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(web.bp)
    metrics.init_app(app)
    register_error_handlers(app)
    if app.config["PROXY_FIX_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_FIX_HOPS"]
        # Not X-Forwarded-Prefix: the app is served at the root, and a prefix trusted from
        # a client would put its host of choice into the links the app builds.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
