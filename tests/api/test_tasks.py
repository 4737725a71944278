"""Task routes: create, read, replace, change, trash, complete, reopen, the log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import ApiClient

REPRESENTATION = {
    "id", "title", "description", "priority", "status", "completed", "completed_at", "due_at",
    "tags", "created_at", "updated_at", "deleted_at", "version", "url",
}  # fmt: skip


def events(client: ApiClient, task: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(task["url"] + "/events", query_string={"per_page": 100})
    assert response.status_code == 200
    return response.json["items"]


def kinds(client: ApiClient, task: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in events(client, task)]


# --- create ------------------------------------------------------------------------------


def test_create_with_defaults(alice: ApiClient) -> None:
    response = alice.post("/api/tasks", json={"title": "  Buy milk  "})
    assert response.status_code == 201
    task = response.json
    assert set(task) == REPRESENTATION
    assert task["title"] == "Buy milk"
    assert task["description"] == ""
    assert task["priority"] == 3
    assert task["status"] == "pending"
    assert task["completed"] is False
    assert task["completed_at"] is None
    assert task["due_at"] is None
    assert task["tags"] == []
    assert task["deleted_at"] is None
    assert task["version"] == 1
    assert task["url"] == f"/api/tasks/{task['id']}"
    assert response.headers["Location"] == task["url"]
    assert response.headers["ETag"] == '"1"'
    assert task["created_at"] == task["updated_at"]
    assert datetime.fromisoformat(task["created_at"]).utcoffset() == timedelta(0)
    assert kinds(alice, task) == ["created"]


def test_create_with_every_field(alice: ApiClient) -> None:
    task = alice.create_task(
        title="Plan trip",
        description="Line one\nLine two\twith a tab",
        priority=5,
        status="completed",
        due_at="2030-01-02T03:04:05+02:00",
        tags=["Travel", "home", "travel", " Home "],
    )
    assert task["priority"] == 5
    assert task["description"] == "Line one\nLine two\twith a tab"
    assert task["status"] == "completed"
    assert task["completed"] is True
    assert task["completed_at"] is not None
    assert task["due_at"] == "2030-01-02T01:04:05+00:00"
    assert task["tags"] == ["home", "travel"]


def test_a_time_without_offset_is_utc(alice: ApiClient) -> None:
    task = alice.create_task(due_at="2030-05-06T07:08:09")
    assert task["due_at"] == "2030-05-06T07:08:09+00:00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        # Nothing visible: zero-width space, word joiner, zero-width joiner, soft hyphen.
        ({"title": "\u200b"}, "title"),
        ({"title": " \u2060\u200d\u00ad "}, "title"),
        ({"title": "ok", "tags": ["\u200b"]}, "tags.0"),
        ({"title": "bad\x00byte"}, "title"),
        ({"title": "line\nbreak"}, "title"),
        ({"title": "bell\x07"}, "title"),
        ({"title": "lone \ud800 surrogate"}, "title"),
        ({"title": 5}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "description": "nul\x00"}, "description"),
        ({"title": "ok", "priority": 0}, "priority"),
        ({"title": "ok", "priority": 6}, "priority"),
        ({"title": "ok", "priority": "3"}, "priority"),
        ({"title": "ok", "priority": 2.5}, "priority"),
        ({"title": "ok", "priority": True}, "priority"),
        ({"title": "ok", "status": "done"}, "status"),
        ({"title": "ok", "due_at": "tomorrow"}, "due_at"),
        ({"title": "ok", "due_at": 1700000000}, "due_at"),
        ({"title": "ok", "tags": "work"}, "tags"),
        ({"title": "ok", "tags": ["a,b"]}, "tags.0"),
        ({"title": "ok", "tags": [""]}, "tags.0"),
        ({"title": "ok", "tags": ["x" * 51]}, "tags.0"),
        # 26 characters, 52 once lower-cased (each an i and a combining dot above).
        ({"title": "ok", "tags": ["\u0130" * 26]}, "tags.0"),
        ({"title": "ok", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": "ok", "id": 7}, "id"),
        ({"title": "ok", "version": 9}, "version"),
        ({"title": "ok", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"title": "ok", "completed_at": None}, "completed_at"),
        ({"title": "ok", "deleted_at": None}, "deleted_at"),
        ({"title": "ok", "owner": 1}, "owner"),
        ({"title": "ok", "completed": True}, "completed"),
    ],
)
def test_create_rejects_invalid_fields(alice: ApiClient, body: dict[str, Any], field: str) -> None:
    response = alice.post("/api/tasks", json=body)
    assert response.status_code == 422, response.json
    error = response.json
    assert error["code"] == "validation_failed"
    assert error["status"] == 422
    assert field in error["details"]
    assert field in error["error"]
    assert alice.get("/api/tasks").json["total"] == 0


@pytest.mark.parametrize("body", [[], ["title"], "title", 3, None])
def test_create_rejects_a_body_that_is_not_an_object(alice: ApiClient, body: Any) -> None:
    response = alice.post("/api/tasks", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert response.json["details"] == {"body": ["Must be a JSON object."]}


# --- read --------------------------------------------------------------------------------


def test_get_with_etag_and_conditional_get(alice: ApiClient) -> None:
    task = alice.create_task()
    response = alice.get(task["url"])
    assert response.status_code == 200
    assert response.json == task
    assert response.headers["ETag"] == '"1"'

    not_modified = alice.get(task["url"], headers={"If-None-Match": '"1"'})
    assert not_modified.status_code == 304
    assert not_modified.data == b""
    assert not_modified.headers["ETag"] == '"1"'
    assert alice.get(task["url"], headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert alice.get(task["url"], headers={"If-None-Match": '"7", "1"'}).status_code == 304
    assert alice.get(task["url"], headers={"If-None-Match": '"2"'}).status_code == 200


def test_missing_task_is_404(alice: ApiClient) -> None:
    for path in ("/api/tasks/999999", f"/api/tasks/{2**63 - 1}"):
        response = alice.get(path)
        assert response.status_code == 404
        assert response.json["code"] == "task_not_found"
    # Not a valid id at all: no route matches.
    for path in ("/api/tasks/0", "/api/tasks/-1", "/api/tasks/abc", f"/api/tasks/{2**63}"):
        response = alice.get(path)
        assert response.status_code == 404
        assert response.json["code"] == "not_found"


def test_invisible_characters_are_trimmed_like_spaces(alice: ApiClient) -> None:
    task = alice.create_task(title="\u200b Report\u200e\u2060", tags=["\u200bwork"])
    assert (task["title"], task["tags"]) == ("Report", ["work"])


def test_tags_are_the_same_whatever_their_unicode_form(alice: ApiClient) -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    first = alice.create_task(title="One", tags=[composed])
    second = alice.create_task(title="Two", tags=[decomposed.upper()])
    assert first["tags"] == second["tags"] == [composed]
    assert alice.get("/api/tags").json == [{"name": composed, "count": 2}]
    found = alice.get("/api/tasks", query_string={"tag": decomposed}).json
    assert found["total"] == 2


# Unicode decimal digits that int() reads as 0-9: fullwidth, Arabic-Indic, Devanagari,
# mathematical bold.
OTHER_ZEROS = ("\uff10", "\u0660", "\u0966", "\U0001d7ce")


def test_only_ascii_digits_are_an_id(alice: ApiClient) -> None:
    task = alice.create_task(title="One")
    digits = str(task["id"])
    for zero in OTHER_ZEROS:
        other = "".join(chr(ord(zero) + int(d)) for d in digits)
        mixed = digits[:-1] + chr(ord(zero) + int(digits[-1]))
        for written in (other, mixed):
            for path in (f"/api/tasks/{quote(written)}", f"/api/tasks/{quote(written)}/events"):
                response = alice.get(path)
                assert response.status_code == 404, (written, response.json)
                assert response.json["code"] == "not_found"
    assert alice.get(f"/api/tasks/{digits}").status_code == 200


# --- replace and change ------------------------------------------------------------------


def test_put_replaces_every_writable_field(alice: ApiClient) -> None:
    task = alice.create_task(
        title="Old", description="d", priority=5, due_at="2030-01-01T00:00:00Z", tags=["a"]
    )
    response = alice.put(task["url"], json={"title": "New"})
    assert response.status_code == 200
    new = response.json
    assert (new["title"], new["description"], new["priority"]) == ("New", "", 3)
    assert new["due_at"] is None
    assert new["tags"] == []
    assert new["version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert new["updated_at"] > task["updated_at"]
    change = events(alice, task)[-1]
    assert change["kind"] == "updated"
    assert change["data"]["changes"]["title"] == ["Old", "New"]
    assert change["data"]["changes"]["tags"] == [["a"], []]
    assert set(change["data"]["changes"]) == {"title", "description", "priority", "due_at", "tags"}


def test_put_requires_the_required_fields(alice: ApiClient) -> None:
    task = alice.create_task()
    response = alice.put(task["url"], json={"priority": 2})
    assert response.status_code == 422
    assert "title" in response.json["details"]


def test_patch_changes_only_what_is_sent(alice: ApiClient) -> None:
    task = alice.create_task(title="Keep", priority=2, due_at="2030-01-01T00:00:00Z", tags=["x"])
    response = alice.patch(task["url"], json={"priority": 4})
    assert response.status_code == 200
    new = response.json
    assert (new["title"], new["priority"], new["tags"]) == ("Keep", 4, ["x"])
    assert new["due_at"] == "2030-01-01T00:00:00+00:00"
    assert new["version"] == 2

    cleared = alice.patch(task["url"], json={"due_at": None}).json
    assert cleared["due_at"] is None
    assert cleared["version"] == 3


def test_patch_with_nothing_new_changes_nothing(alice: ApiClient) -> None:
    task = alice.create_task(title="Same", tags=["b", "a"])
    response = alice.patch(task["url"], json={"title": "Same", "tags": ["A", "b"]})
    assert response.status_code == 200
    assert response.json["version"] == 1
    assert response.json["updated_at"] == task["updated_at"]
    assert kinds(alice, task) == ["created"]


def test_patch_status_logs_a_status_change(alice: ApiClient) -> None:
    task = alice.create_task()
    done = alice.patch(task["url"], json={"status": "completed", "title": "Renamed"}).json
    assert done["completed"] is True
    assert done["completed_at"] is not None
    assert done["version"] == 2
    assert kinds(alice, task) == ["created", "updated", "status_changed"]
    change = events(alice, task)[-1]
    assert change["data"] == {"from": "pending", "to": "completed"}
    assert change["message"] == "Status changed from pending to completed."
    alice.patch(task["url"], json={"status": "in_progress"})
    change = events(alice, task)[-1]
    assert change["data"] == {"from": "completed", "to": "in_progress"}
    assert change["message"] == "Status changed from completed to in progress."  # in words

    reopened = alice.patch(task["url"], json={"status": "in_progress"}).json
    assert reopened["completed"] is False
    assert reopened["completed_at"] is None


def test_patch_rejects_invalid_and_read_only_fields(alice: ApiClient) -> None:
    task = alice.create_task()
    for body, field in [({"title": None}, "title"), ({"version": 3}, "version"),
                        ({"priority": 9}, "priority"), ({"nope": 1}, "nope")]:  # fmt: skip
        response = alice.patch(task["url"], json=body)
        assert response.status_code == 422
        assert field in response.json["details"]
    assert alice.get(task["url"]).json == task


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_if_match_guards_against_lost_updates(alice: ApiClient, method: str) -> None:
    task = alice.create_task(title="v1")
    first = alice.request(method, task["url"], json={"title": "v2"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["ETag"] == '"2"'

    stale = alice.request(method, task["url"], json={"title": "v3"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json["code"] == "precondition_failed"
    assert stale.headers["ETag"] == '"2"'
    assert alice.get(task["url"]).json["title"] == "v2"

    for header in ('"2"', '"9", "3"', "*"):
        response = alice.request(
            method, task["url"], json={"title": f"by {header}"}, headers={"If-Match": header}
        )
        assert response.status_code == 200, header
    assert response.json["version"] == 5
    # If-Match compares strongly: a weak tag never matches; nonsense never matches.
    for header in ('W/"5"', "garbage", '"abc"'):
        response = alice.request(
            method, task["url"], json={"title": "x"}, headers={"If-Match": header}
        )
        assert response.status_code == 412, header


def test_changing_a_task_in_the_trash_is_a_conflict(alice: ApiClient) -> None:
    task = alice.create_task()
    assert alice.delete(task["url"]).status_code == 204
    changes = [("PATCH", "", {"title": "x"}), ("PUT", "", {"title": "x"}),
               ("POST", "/complete", None), ("POST", "/reopen", None)]  # fmt: skip
    for method, suffix, body in changes:
        response = alice.request(method, task["url"] + suffix, json=body)
        assert response.status_code == 409, (method, suffix)
        assert response.json["code"] == "task_deleted"


# --- trash -------------------------------------------------------------------------------


def test_delete_and_restore(alice: ApiClient) -> None:
    task = alice.create_task()
    response = alice.delete(task["url"])
    assert response.status_code == 204
    assert response.data == b""
    deleted = alice.get(task["url"]).json
    assert deleted["deleted_at"] is not None
    assert deleted["version"] == 2
    assert alice.get("/api/tasks").json["total"] == 0
    assert alice.get("/api/tasks?deleted=only").json["items"][0]["id"] == task["id"]

    assert alice.delete(task["url"]).status_code == 204  # idempotent
    assert alice.get(task["url"]).json["version"] == 2

    restored = alice.post(task["url"] + "/restore")
    assert restored.status_code == 200
    assert restored.json["deleted_at"] is None
    assert restored.json["version"] == 3
    assert restored.headers["ETag"] == '"3"'
    assert alice.post(task["url"] + "/restore").json["version"] == 3  # idempotent
    assert kinds(alice, task) == ["created", "deleted", "restored"]


# --- complete and reopen -----------------------------------------------------------------


def test_complete_and_reopen_are_idempotent(alice: ApiClient) -> None:
    task = alice.create_task()
    done = alice.post(task["url"] + "/complete")
    assert done.status_code == 200
    assert done.json["status"] == "completed"
    assert done.json["completed"] is True
    assert done.json["completed_at"] is not None
    assert done.json["version"] == 2
    again = alice.post(task["url"] + "/complete").json
    assert again["version"] == 2
    assert again["completed_at"] == done.json["completed_at"]

    reopened = alice.post(task["url"] + "/reopen").json
    assert (reopened["status"], reopened["completed"], reopened["completed_at"]) == (
        "pending", False, None,
    )  # fmt: skip
    assert reopened["version"] == 3
    assert alice.post(task["url"] + "/reopen").json["version"] == 3
    assert kinds(alice, task) == ["created", "completed", "reopened"]


def test_reopen_takes_a_failed_task_back_to_pending(alice: ApiClient) -> None:
    task = alice.create_task(status="failed")
    assert alice.post(task["url"] + "/reopen").json["status"] == "pending"
    in_progress = alice.create_task(status="in_progress")
    assert alice.post(in_progress["url"] + "/reopen").json["status"] == "in_progress"


# --- the log -----------------------------------------------------------------------------


def test_every_change_is_logged_in_order(alice: ApiClient) -> None:
    task = alice.create_task(title="Log me", tags=["one"])
    alice.patch(task["url"], json={"priority": 1})
    alice.post(task["url"] + "/complete")
    alice.post(task["url"] + "/reopen")
    alice.delete(task["url"])
    alice.post(task["url"] + "/restore")
    log = events(alice, task)
    assert [e["kind"] for e in log] == [
        "created", "updated", "completed", "reopened", "deleted", "restored",
    ]  # fmt: skip
    assert log[0]["data"]["title"] == "Log me"
    assert log[0]["data"]["tags"] == ["one"]
    assert log[1]["data"] == {"changes": {"priority": [3, 1]}}
    assert all(set(e) == {"id", "at", "kind", "message", "data"} for e in log)
    assert [e["id"] for e in log] == sorted(e["id"] for e in log)
    assert all(e["message"] for e in log)


# --- idempotent creation -----------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(alice: ApiClient) -> None:
    body = {"title": "Pay rent", "tags": ["home"]}
    headers = {"Idempotency-Key": "rent-2026-11"}
    first = alice.post("/api/tasks", json=body, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    alice.patch(first.json["url"], json={"title": "Changed since"})

    again = alice.post("/api/tasks", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert alice.get("/api/tasks").json["total"] == 1


def test_idempotency_key_with_another_body_is_refused(alice: ApiClient) -> None:
    headers = {"Idempotency-Key": "k1"}
    assert alice.post("/api/tasks", json={"title": "a"}, headers=headers).status_code == 201
    response = alice.post("/api/tasks", json={"title": "b"}, headers=headers)
    assert response.status_code == 422
    assert response.json["code"] == "idempotency_key_reused"
    assert alice.get("/api/tasks").json["total"] == 1


def test_idempotency_keys_are_per_user_and_failures_do_not_use_them(
    alice: ApiClient, bob: ApiClient
) -> None:
    headers = {"Idempotency-Key": "shared"}
    assert alice.post("/api/tasks", json={"title": ""}, headers=headers).status_code == 422
    assert alice.post("/api/tasks", json={"title": "a"}, headers=headers).status_code == 201
    bobs = alice.post("/api/tasks", json={"title": "a"}, headers=headers)
    assert bobs.headers["Idempotent-Replayed"] == "true"
    other = bob.post("/api/tasks", json={"title": "a"}, headers=headers)
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert other.json["id"] != bobs.json["id"]


def test_idempotency_key_expires_after_the_window(alice: ApiClient, app: Any) -> None:
    from tasktracker.extensions import db
    from tasktracker.models import IdempotencyKey

    headers = {"Idempotency-Key": "old"}
    first = alice.post("/api/tasks", json={"title": "a"}, headers=headers).json
    with app.app_context():
        stored = db.session.query(IdempotencyKey).one()
        stored.created_at = datetime.now(UTC) - timedelta(hours=25)
        db.session.commit()
    second = alice.post("/api/tasks", json={"title": "a"}, headers=headers)
    assert second.status_code == 201
    assert second.json["id"] != first["id"]
    assert "Idempotent-Replayed" not in second.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "spa ce", "naïve"])
def test_invalid_idempotency_key_is_a_bad_request(alice: ApiClient, key: str) -> None:
    response = alice.post(
        "/api/tasks",
        json={"title": "a"},
        headers={"Idempotency-Key": key.encode().decode("latin-1")},
    )
    assert response.status_code == 400
    assert response.json["code"] == "invalid_idempotency_key"
