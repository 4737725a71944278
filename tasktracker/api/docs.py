"""The API's documentation pages, served with vendored assets only (nothing from a CDN)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, url_for

from tasktracker.headers import CONTENT_SECURITY_POLICY

bp = Blueprint("api_docs_ui", __name__, url_prefix="/api")

# Swagger UI and ReDoc style their components inline; scripts stay 'self' only (no
# 'unsafe-inline', no 'unsafe-eval').
# font-src data:: ReDoc 3 embeds its tree-view icon font (TreeViewIcons) as a data: URL;
# without it the expand/collapse arrows of the payload samples are missing.
# ReDoc also asks its CDN for a logo (the img-src blocks it; the <img> hides itself), and its
# search index probes `Function(...)` for a worker: the script-src blocks that and the search
# runs on the page instead (tests/browser/test_api_docs.py checks both).
DOCS_POLICY = (
    CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
        "img-src 'self' data:", "img-src 'self' data: blob:"
    )
    + "; font-src 'self' data:; worker-src 'self' blob:"
)


def _page(template: str) -> Response:
    response = Response(
        render_template(template, spec_url=url_for("api-docs.openapi_json")), mimetype="text/html"
    )
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response


@bp.get("/docs")
def swagger_ui() -> Response:
    return _page("api/swagger_ui.html")


@bp.get("/redoc")
def redoc() -> Response:
    return _page("api/redoc.html")
