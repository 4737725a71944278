"""Another account's resources are invisible (SPEC §3 rules, §4): every route answers a
foreign task, its events or a foreign token with the same 404 as an id that does not exist,
and leaves the foreign resource untouched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import basic_auth

ERROR_KEYS = {"error", "code", "status", "details", "request_id"}
MISSING = 10**9  # added to a real id: an id nothing has

# (method, path after /api/tasks/{id}, JSON body)
TASK_ROUTES = [
    pytest.param("GET", "", None, id="get"),
    pytest.param(
        "PUT", "", {"title": "Taken over", "priority": 5, "status": "completed"}, id="put"
    ),
    pytest.param("PATCH", "", {"title": "Taken over"}, id="patch"),
    pytest.param("PATCH", "", {"status": "failed"}, id="patch-status"),
    pytest.param("DELETE", "", None, id="delete"),
    pytest.param("POST", "/restore", None, id="restore"),
    pytest.param("POST", "/complete", None, id="complete"),
    pytest.param("POST", "/reopen", None, id="reopen"),
    pytest.param("GET", "/events", None, id="events"),
]


def call(client: Any, method: str, path: str, body: Any, **kwargs: Any) -> Any:
    return client.request(method, path, **({} if body is None else {"json": body}), **kwargs)


def not_found_body(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert "ETag" not in response.headers
    assert "Location" not in response.headers
    body = response.json
    assert set(body) == {"error", "code", "status", "request_id"}, body
    assert body["code"] == code
    assert body["status"] == 404
    return body


def assert_same_404(foreign: Any, missing: Any, code: str) -> None:
    """A foreign resource's 404 is indistinguishable from a missing one's."""
    foreign_body = not_found_body(foreign, code)
    missing_body = not_found_body(missing, code)
    assert foreign_body["error"] == missing_body["error"]
    assert set(foreign_body) == set(missing_body) <= ERROR_KEYS
    assert foreign.headers.get("Content-Type") == missing.headers.get("Content-Type")


def _basic(user: Any) -> dict[str, str]:
    return basic_auth(user.user["email"], user.user["password"])


def bobs_task(bob: Any, state: str) -> dict[str, Any]:
    task = bob.create_task(title="Bob's secret plan", tags=["bobonly", "shared"])
    if state == "trashed":
        assert bob.delete(f"/api/tasks/{task['id']}").status_code == 204
    return bob.get(f"/api/tasks/{task['id']}").json


@pytest.mark.parametrize("state", ["live", "trashed"])
@pytest.mark.parametrize(("method", "suffix", "body"), TASK_ROUTES)
def test_foreign_task_is_a_404_like_a_missing_one(alice, bob, state, method, suffix, body):
    task = bobs_task(bob, state)
    events_before = bob.get(f"/api/tasks/{task['id']}/events").json["total"]

    foreign = call(alice, method, f"/api/tasks/{task['id']}{suffix}", body)
    missing = call(alice, method, f"/api/tasks/{task['id'] + MISSING}{suffix}", body)
    assert_same_404(foreign, missing, "task_not_found")
    assert "Bob" not in foreign.get_data(as_text=True)

    after = bob.get(f"/api/tasks/{task['id']}")
    assert after.status_code == 200
    assert after.json == task  # same version, same deleted_at, still pending, same title
    assert after.json["status"] == "pending"
    assert (after.json["deleted_at"] is None) == (state == "live")
    assert bob.get(f"/api/tasks/{task['id']}/events").json["total"] == events_before


@pytest.mark.parametrize("state", ["live", "trashed"])
@pytest.mark.parametrize(("method", "suffix", "body"), TASK_ROUTES)
def test_foreign_task_with_if_match_is_still_a_404(alice, bob, state, method, suffix, body):
    """A precondition that would hold for the owner must not turn the 404 into a 412/409."""
    task = bobs_task(bob, state)
    headers = {"If-Match": f'"{task["version"]}"', "If-None-Match": f'"{task["version"]}"'}
    path = f"/api/tasks/{task['id']}{suffix}"
    foreign = call(alice, method, path, body, headers=headers)
    missing = call(
        alice, method, f"/api/tasks/{task['id'] + MISSING}{suffix}", body, headers=headers
    )
    assert_same_404(foreign, missing, "task_not_found")
    assert bob.get(f"/api/tasks/{task['id']}").json == task


@pytest.mark.parametrize("state", ["live", "revoked"])
def test_foreign_token_is_a_404_like_a_missing_one(client, alice, bob, state):
    response = client.post("/api/tokens", json={"name": "bob's laptop"}, headers=_basic(bob))
    assert response.status_code == 201
    token = response.json
    if state == "revoked":
        assert bob.delete(f"/api/tokens/{token['id']}").status_code == 204

    foreign = alice.delete(f"/api/tokens/{token['id']}")
    missing = alice.delete(f"/api/tokens/{token['id'] + MISSING}")
    assert_same_404(foreign, missing, "token_not_found")

    me = client.get("/api/me", headers={"Authorization": f"Bearer {token['token']}"})
    assert me.status_code == (200 if state == "live" else 401)
    listed = [t["id"] for t in bob.get("/api/tokens").json]
    assert (token["id"] in listed) == (state == "live")


def test_foreign_tokens_are_not_listed(client, alice, bob):
    client.post("/api/tokens", json={"name": "bob's phone"}, headers=_basic(bob))
    bob_ids = {t["id"] for t in bob.get("/api/tokens").json}
    alice_tokens = alice.get("/api/tokens").json
    assert len(bob_ids) == 2
    assert len(alice_tokens) == 1
    assert not bob_ids & {t["id"] for t in alice_tokens}
    assert "bob's phone" not in {t["name"] for t in alice_tokens}


@pytest.mark.parametrize("deleted", ["exclude", "include", "only"])
def test_list_never_shows_foreign_tasks(alice, bob, deleted):
    bob_live = bob.create_task(title="Bob live", tags=["shared"])
    bob_trashed = bob.create_task(title="Bob trashed", tags=["shared"])
    bob.delete(f"/api/tasks/{bob_trashed['id']}")
    mine_live = alice.create_task(title="Alice live", tags=["shared"])
    mine_trashed = alice.create_task(title="Alice trashed")
    alice.delete(f"/api/tasks/{mine_trashed['id']}")

    response = alice.get("/api/tasks", query_string={"deleted": deleted, "per_page": 100})
    assert response.status_code == 200
    ids = {item["id"] for item in response.json["items"]}
    expected = {
        "exclude": {mine_live["id"]},
        "include": {mine_live["id"], mine_trashed["id"]},
        "only": {mine_trashed["id"]},
    }[deleted]
    assert ids == expected
    assert response.json["total"] == len(expected)
    assert not ids & {bob_live["id"], bob_trashed["id"]}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"q": "Bob"}, id="search"),
        pytest.param({"tag": "bobonly"}, id="tag"),
        pytest.param({"status": "pending"}, id="status"),
        pytest.param({"sort": "title", "per_page": 1}, id="sorted-page"),
    ],
)
def test_filters_never_reach_foreign_tasks(alice, bob, query):
    bob.create_task(title="Bob's task", tags=["bobonly"])
    bob.create_task(title="AAA Bob first by title", tags=["bobonly"])
    response = alice.get("/api/tasks", query_string={"deleted": "include", **query})
    assert response.status_code == 200
    assert response.json["items"] == []
    assert response.json["total"] == 0


def test_tags_never_show_foreign_tags_or_counts(alice, bob):
    bob.create_task(title="b1", tags=["bobonly", "shared"])
    bob.create_task(title="b2", tags=["shared"])
    alice.create_task(title="a1", tags=["shared", "mine"])
    response = alice.get("/api/tags")
    assert response.status_code == 200
    assert response.json == [{"name": "mine", "count": 1}, {"name": "shared", "count": 1}]
    assert bob.get("/api/tags").json == [
        {"name": "bobonly", "count": 1},
        {"name": "shared", "count": 2},
    ]


def test_foreign_task_not_shown_after_alice_uses_the_same_tag_names(alice, bob):
    """Tags are per owner: Alice creating Bob's tag names gets her own, empty of his tasks."""
    bob_task = bob.create_task(title="Bob's", tags=["bobonly"])
    alice.create_task(title="Alice's", tags=["bobonly"])
    response = alice.get("/api/tasks", query_string={"tag": "bobonly"})
    assert [item["title"] for item in response.json["items"]] == ["Alice's"]
    assert alice.get("/api/tags").json == [{"name": "bobonly", "count": 1}]
    assert bob.get(f"/api/tasks/{bob_task['id']}").json["tags"] == ["bobonly"]
