"""POST /api/tasks/bulk: up to 1 000 tasks in one request, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_tasks import REPRESENTATION, events
from tests.conftest import ApiClient

BULK = "/api/tasks/bulk"


def bulk(client: ApiClient, tasks: Any, **kwargs: Any) -> Any:
    return client.post(BULK, json={"tasks": tasks}, **kwargs)


def assert_nothing_written(client: ApiClient) -> None:
    assert client.get("/api/tasks", query_string={"deleted": "include"}).json["total"] == 0
    assert client.get("/api/tags").json == []


def test_creates_every_task_in_the_order_sent(alice: ApiClient) -> None:
    sent = [
        {"title": "  Plan trip ", "description": "Line one\nLine two", "priority": 5,
         "status": "completed", "due_at": "2030-01-02T03:04:05+02:00",
         "tags": ["Travel", "home", "travel"]},
        {"title": "Defaults"},
        {"title": "Tagged", "tags": ["home", "work"], "status": "in_progress", "priority": 1},
    ]  # fmt: skip
    response = bulk(alice, sent)
    assert response.status_code == 201, response.json
    assert response.mimetype == "application/json"
    items = response.json["items"]
    assert set(response.json) == {"items"}
    assert [item["title"] for item in items] == ["Plan trip", "Defaults", "Tagged"]
    assert all(set(item) == REPRESENTATION for item in items)
    assert [item["id"] for item in items] == sorted(item["id"] for item in items)
    first, second, third = items
    assert first["description"] == "Line one\nLine two"
    assert (first["priority"], first["status"], first["completed"]) == (5, "completed", True)
    assert first["completed_at"] is not None
    assert first["due_at"] == "2030-01-02T01:04:05+00:00"
    assert first["tags"] == ["home", "travel"]
    assert (second["priority"], second["status"], second["tags"]) == (3, "pending", [])
    assert (second["description"], second["due_at"], second["completed_at"]) == ("", None, None)
    assert third["tags"] == ["home", "work"]
    for item in items:
        assert item["version"] == 1
        assert item["deleted_at"] is None
        assert item["url"] == f"/api/tasks/{item['id']}"
        assert alice.get(item["url"]).json == item  # exactly what a read answers
        log = events(alice, item)
        assert [event["kind"] for event in log] == ["created"]
        assert log[0]["data"]["title"] == item["title"]
        assert log[0]["data"]["tags"] == item["tags"]


def test_list_totals_and_tag_counts_follow(alice: ApiClient) -> None:
    alice.create_task(title="Before", tags=["home"])
    response = bulk(
        alice,
        [{"title": f"T{n}", "status": ["pending", "completed"][n % 2], "tags": ["home"]}
         for n in range(7)],
    )  # fmt: skip
    assert response.status_code == 201
    assert alice.get("/api/tasks").json["total"] == 8
    assert alice.get("/api/tasks", query_string={"completed": "true"}).json["total"] == 3
    assert alice.get("/api/tasks", query_string={"tag": "home"}).json["total"] == 8
    assert alice.get("/api/tags").json == [{"name": "home", "count": 8}]


@pytest.mark.parametrize(
    ("tasks", "fields"),
    [
        ([{"title": "ok"}, {"title": ""}], ["tasks.1.title"]),
        (
            [
                {"title": "x" * 201},
                {"title": "ok"},
                {"title": "ok", "priority": 9, "tags": ["a,b"]},
            ],
            ["tasks.0.title", "tasks.2.priority", "tasks.2.tags.0"],
        ),
        ([{"title": "ok", "id": 3}], ["tasks.0.id"]),
        ([{"title": "ok", "colour": "red"}], ["tasks.0.colour"]),
        ([{"title": "ok"}, "a title"], ["tasks.1"]),
        ([{"title": "ok"}, None], ["tasks.1"]),
        ([{"title": "nul\x00"}], ["tasks.0.title"]),
    ],
)
def test_any_invalid_task_refuses_the_whole_request(
    alice: ApiClient, tasks: list[Any], fields: list[str]
) -> None:
    response = bulk(alice, tasks)
    assert response.status_code == 422, response.json
    error = response.json
    assert error["code"] == "validation_failed"
    assert error["status"] == 422
    assert sorted(error["details"]) == fields
    for field in fields:
        assert field in error["error"]
    assert_nothing_written(alice)


def test_every_failing_task_is_named(alice: ApiClient) -> None:
    tasks = [{"title": "ok"} if n % 100 else {"title": ""} for n in range(1_000)]
    response = bulk(alice, tasks)
    assert response.status_code == 422
    assert list(response.json["details"]) == [f"tasks.{n}.title" for n in range(0, 1_000, 100)]
    assert_nothing_written(alice)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tasks": []}, "tasks"),
        ({"tasks": [{"title": "ok"}] * 1_001}, "tasks"),
        ({}, "tasks"),
        ({"tasks": None}, "tasks"),
        ({"tasks": {"title": "ok"}}, "tasks"),
        ({"tasks": [{"title": "ok"}], "extra": 1}, "extra"),
        ([{"title": "ok"}], "body"),
        ({"title": "ok"}, "title"),
    ],
)
def test_a_body_that_is_not_one_to_a_thousand_tasks_is_refused(
    alice: ApiClient, body: Any, field: str
) -> None:
    response = alice.post(BULK, json=body)
    assert response.status_code == 422
    assert field in response.json["details"]
    if field == "title":  # a single task's body: `tasks` is missing, and `title` unknown
        assert response.json["details"]["tasks"] == ["Missing data for required field."]
    assert_nothing_written(alice)


def test_the_limit_is_counted_before_any_task_is_validated(alice: ApiClient) -> None:
    response = bulk(alice, [{"title": ""}] * 1_001)
    assert response.status_code == 422
    assert response.json["details"] == {"tasks": ["At most 1,000 tasks a request."]}


def test_malformed_and_non_json_bodies(alice: ApiClient) -> None:
    malformed = alice.post(BULK, data='{"tasks": [', content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json["code"] == "invalid_json"
    form = alice.post(BULK, data={"tasks": "x"})
    assert form.status_code == 415
    assert alice.get(BULK).status_code == 405


def test_a_thousand_tasks_with_twenty_new_tags_each(alice: ApiClient) -> None:
    """20 000 distinct tags and links: more than one statement's bind parameters would
    hold on SQLite, were they sent one parameter each."""
    tasks = [{"title": f"Task {n}", "tags": [f"t{n}-{k}" for k in range(20)]} for n in range(1_000)]
    response = bulk(alice, tasks)
    assert response.status_code == 201
    items = response.json["items"]
    assert [item["title"] for item in items] == [task["title"] for task in tasks]
    assert [item["tags"] for item in items] == [sorted(task["tags"]) for task in tasks]
    assert alice.get("/api/tasks").json["total"] == 1_000
    assert len(alice.get("/api/tags").json) == 20_000
    last = items[-1]
    assert alice.get(last["url"]).json == last


def test_other_accounts_tags_are_untouched(alice: ApiClient, bob: ApiClient) -> None:
    bobs = bob.create_task(title="Bob's", tags=["shared", "bobonly"])
    response = bulk(alice, [{"title": "a", "tags": ["shared"]}, {"title": "b", "tags": ["mine"]}])
    assert response.status_code == 201
    assert bob.get(bobs["url"]).json == bobs
    assert bob.get("/api/tags").json == [
        {"name": "bobonly", "count": 1},
        {"name": "shared", "count": 1},
    ]
    assert alice.get("/api/tags").json == [
        {"name": "mine", "count": 1},
        {"name": "shared", "count": 1},
    ]
    assert bob.get("/api/tasks", query_string={"tag": "shared"}).json["total"] == 1


def test_idempotency_key_replays_the_first_response(alice: ApiClient) -> None:
    body = [{"title": "Pay rent", "tags": ["home"]}, {"title": "Call the bank"}]
    headers = {"Idempotency-Key": "bulk-2026-11"}
    first = bulk(alice, body, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    alice.patch(first.json["items"][0]["url"], json={"title": "Changed since"})

    again = bulk(alice, body, headers=headers)
    assert again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert alice.get("/api/tasks").json["total"] == 2


def test_a_replay_carries_only_its_own_headers(alice: ApiClient) -> None:
    """A replayed single create's Location and ETag never reach another replay."""
    single = {"Idempotency-Key": "single-replayed"}
    for _ in range(2):
        replayed = alice.post("/api/tasks", json={"title": "One"}, headers=single)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert "Location" in replayed.headers
    many = {"Idempotency-Key": "bulk-replayed"}
    for _ in range(2):
        again = bulk(alice, [{"title": "Two"}], headers=many)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Location" not in again.headers
    assert "ETag" not in again.headers


def test_idempotency_key_with_another_body_is_refused(alice: ApiClient) -> None:
    headers = {"Idempotency-Key": "k1"}
    assert bulk(alice, [{"title": "a"}], headers=headers).status_code == 201
    response = bulk(alice, [{"title": "a"}, {"title": "b"}], headers=headers)
    assert response.status_code == 422
    assert response.json["code"] == "idempotency_key_reused"
    single = alice.post("/api/tasks", json={"title": "a"}, headers=headers)
    assert single.status_code == 422
    assert single.json["code"] == "idempotency_key_reused"
    assert alice.get("/api/tasks").json["total"] == 1


def test_a_refused_request_does_not_use_its_key(alice: ApiClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    assert bulk(alice, [{"title": ""}], headers=headers).status_code == 422
    response = bulk(alice, [{"title": "fixed"}], headers=headers)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    invalid = bulk(alice, [{"title": "a"}], headers={"Idempotency-Key": "spa ce"})
    assert invalid.status_code == 400
    assert invalid.json["code"] == "invalid_idempotency_key"


def test_a_key_replays_only_to_its_owner(alice: ApiClient, bob: ApiClient) -> None:
    headers = {"Idempotency-Key": "shared"}
    mine = bulk(alice, [{"title": "a"}], headers=headers)
    theirs = bulk(bob, [{"title": "a"}], headers=headers)
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json["items"][0]["id"] != mine.json["items"][0]["id"]


def test_the_single_create_is_a_bulk_of_one(alice: ApiClient) -> None:
    """Both routes write the same task for the same fields."""
    fields = {"title": "Same", "priority": 4, "due_at": "2030-01-01T00:00:00Z", "tags": ["x"]}
    single = alice.create_task(**fields)
    (from_bulk,) = bulk(alice, [fields]).json["items"]
    ignored = {"id", "url", "created_at", "updated_at"}
    assert {k: v for k, v in single.items() if k not in ignored} == {
        k: v for k, v in from_bulk.items() if k not in ignored
    }
    assert [e["data"] for e in events(alice, single)] == [
        e["data"] for e in events(alice, from_bulk)
    ]
