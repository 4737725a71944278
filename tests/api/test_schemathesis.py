"""Property-based fuzzing of every operation in the OpenAPI document, in process.

Schemathesis generates valid and invalid requests from the document and checks each answer:
no 5xx, the status code, headers and content type documented, the body valid against its
schema, and invalid input refused. Not checked: that every schema-valid request succeeds
(`positive_data_acceptance`), as some are refused by design for reasons a schema cannot
state: a stale If-Match (412), an Idempotency-Key reused with another body, a made-up
cursor, `page` with `cursor` (docs/api.md).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.generation.meta import negated_parameters
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tasktracker.http_extensions import IdConverter
from tests.conftest import PASSWORD, ApiClient, basic_auth

# Examples per operation: the production database gets the thorough run; the zero-config
# one (SQLite) a lighter one, which still reaches every operation with every kind of input.
MAX_EXAMPLES = {"postgresql": 40, "sqlite": 15}


@pytest.fixture
def fuzz_owner(make_api_client: Any) -> ApiClient:
    return make_api_client()


@pytest.fixture
def api_schema(app: Flask, fuzz_owner: ApiClient, backend: str) -> Any:
    # Real resources for the generated ids to hit now and then, besides random (404) ones.
    task = fuzz_owner.create_task(title="Fuzz target", tags=["fuzz"])
    token_id = fuzz_owner.get("/api/tokens").json[0]["id"]
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.config.generation.update(max_examples=MAX_EXAMPLES[backend])

    @schema.hook
    def map_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return path_parameters
        # Only a valid id may be swapped: a negative case's invalid one must stay invalid.
        generated = path_parameters.get("task_id")
        if isinstance(generated, int) and 1 <= generated <= IdConverter.MAX and generated % 2:
            path_parameters["task_id"] = task["id"]
        # Never revoke the token the other cases authenticate with.
        if path_parameters.get("token_id") == token_id:
            path_parameters["token_id"] = token_id + 1_000_000
        return path_parameters

    @schema.hook
    def filter_query(ctx: Any, query: dict[str, Any] | None) -> bool:
        # An object cannot travel as one query parameter: serialized, its keys become other
        # parameters, and the request no longer carries the invalid value generated for it
        # (a "negative" case the server rightly answers 200). Nor is a string in place of
        # the `tag` array invalid: one value is how a one-item array travels in a query.
        return not query or not (
            any(isinstance(value, dict) for value in query.values())
            or isinstance(query.get("tag"), str)
        )

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


def credentials(case: Any, owner: ApiClient) -> dict[str, str]:
    """What the document asks of each operation: nothing, HTTP Basic, or the bearer token;
    nothing for a negative case that leaves the credentials out on purpose (sent anyway,
    they would turn it into a valid request the server rightly answers 200)."""
    security = case.operation.definition.raw.get("security")
    mutated = {name.lower() for name, _ in negated_parameters(case._meta)}
    if security == [] or "authorization" in mutated:
        return {}
    if security == [{"basicAuth": []}]:
        return basic_auth(owner.user["email"], PASSWORD)
    return {"Authorization": f"Bearer {owner.token}"}


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip
def test_api_conforms_to_its_document(case: Any, fuzz_owner: ApiClient) -> None:
    case.call_and_validate(
        headers=credentials(case, fuzz_owner), excluded_checks=[positive_data_acceptance]
    )
