"""The OpenAPI document describes every route, schema, status code and the bearer scheme;
the documentation pages use only assets the app serves itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

STATIC = Path(__file__).parents[2] / "static"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def api_routes(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, method.lower()) for method in rule.methods & HTTP_METHODS}
    return routes


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method.upper() in HTTP_METHODS
    }


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    for kind, name in set(re.findall(r'"#/components/(\w+)/(\w+)"', text)):
        assert name in document["components"][kind], (kind, name)


def test_every_api_route_is_documented(app: Flask, document: dict[str, Any]) -> None:
    assert set(operations(document)) == api_routes(app)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Task Tracker API"


def test_bearer_scheme_and_per_operation_security(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert document["security"] == [{"bearerAuth": []}]
    ops = operations(document)
    assert ops[("/api/users", "post")]["security"] == []
    assert ops[("/api/tokens", "post")]["security"] == [{"basicAuth": []}]
    public = {("/api/users", "post"), ("/api/tokens", "post")}
    for key, operation in ops.items():
        if key not in public:
            assert "security" not in operation, key  # the document-wide bearer requirement
            assert "401" in operation["responses"], key


def test_every_operation_documents_its_statuses(document: dict[str, Any]) -> None:
    error_ref = {"$ref": "#/components/schemas/Error"}
    for (path, method), operation in operations(document).items():
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), (path, method)
        assert {"429", "500"} <= set(responses), (path, method)
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= set(responses), (path, method)
        if "{task_id}" in path or "{token_id}" in path:
            assert "404" in responses, (path, method)
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "400" in responses, (path, method)
        for code, response in responses.items():
            if code.startswith(("4", "5")) and code != "default":
                schema = response["content"]["application/json"]["schema"]
                assert schema == error_ref, (path, method, code)
        assert operation.get("summary"), (path, method)


def test_task_schema_matches_the_representation(alice: Any, document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    task = alice.create_task()
    assert set(schemas["Task"]["properties"]) == set(task)
    assert set(schemas["Task"]["required"]) == set(task)
    write = schemas["TaskWrite"]
    assert write["additionalProperties"] is False
    assert write["required"] == ["title"]
    assert write["properties"]["priority"]["minimum"] == 1
    assert write["properties"]["priority"]["maximum"] == 5
    assert write["properties"]["title"]["maxLength"] == 200
    assert "pattern" in write["properties"]["title"]
    error = schemas["Error"]
    assert set(error["properties"]) == {"error", "code", "status", "details", "request_id"}


def test_list_parameters_are_documented(document: dict[str, Any]) -> None:
    operation = operations(document)[("/api/tasks", "get")]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert names == {
        "q", "status", "priority", "priority_min", "priority_max", "tag", "due_before",
        "due_after", "overdue", "completed", "deleted", "sort", "page", "per_page", "skip",
        "limit", "cursor",
    }  # fmt: skip
    assert "Link" in operation["responses"]["200"]["headers"]


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_docs_pages_use_only_assets_the_app_serves(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert (STATIC / asset.removeprefix("/static/")).is_file(), asset
        with client.get(asset) as served:
            assert served.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert script_src == "'self'"
    assert "<script>" not in html  # no inline script: the CSP would block it


def test_bulk_create_is_documented(document: dict[str, Any]) -> None:
    operation = operations(document)[("/api/tasks/bulk", "post")]
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
    assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskBulk"
    }
    schemas = document["components"]["schemas"]
    tasks = schemas["TaskBulkWrite"]["properties"]["tasks"]
    assert (tasks["minItems"], tasks["maxItems"]) == (1, 1000)
    assert tasks["items"] == {"$ref": "#/components/schemas/TaskWrite"}
    assert schemas["TaskBulkWrite"]["required"] == ["tasks"]
    assert schemas["TaskBulk"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/Task"
    }
