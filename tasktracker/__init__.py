"""Task Tracker: a Flask application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from tasktracker import database, metrics, ops, web, worker
from tasktracker.api import blp as api_blueprint
from tasktracker.api import docs as api_docs
from tasktracker.api import rest_api
from tasktracker.cli import register_commands
from tasktracker.config import load_config
from tasktracker.errors import register_error_handlers, wants_json
from tasktracker.extensions import (
    CookieSessions,
    IdConverter,
    csrf,
    db,
    limiter,
    login_manager,
    redis_client,
)
from tasktracker.headers import register_security_headers
from tasktracker.observability import configure_logging, register_request_logging


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides what the environment says."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.from_mapping(load_config(app.instance_path, config))
    os.makedirs(app.instance_path, exist_ok=True)

    configure_logging(app)
    # after_request hooks run last-registered first: these two see the final response.
    register_request_logging(app)
    register_security_headers(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        # Not X-Forwarded-Prefix: the app is served at the root, and a prefix trusted from
        # a client would put its host of choice into the links the app builds.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    return app


def register_extensions(app: Flask) -> None:
    app.session_interface = CookieSessions(sessionless=wants_json)
    db.init_app(app)
    database.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    redis_client.init_app(app)
    worker.init_app(app)
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


def register_blueprints(app: Flask) -> None:
    rest_api.register_blueprint(api_blueprint)
    csrf.exempt(api_blueprint)  # bearer tokens only: no cookie, so nothing to forge
    app.register_blueprint(api_docs.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(web.bp)
    metrics.init_app(app)
