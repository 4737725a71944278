"""GET /api/tasks (filters, sorts, pages, cursors, query errors), a task's events, /api/tags."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

if TYPE_CHECKING:
    from werkzeug.test import TestResponse

    from tests.conftest import ApiClient

TASKS = "/api/tasks"
PAST = "2000-01-01T00:00:00Z"
FUTURE = "2999-01-01T00:00:00Z"
LINK = re.compile(r'<([^>]*)>;\s*rel="([^"]+)"')
ERROR_KEYS = {"error", "code", "status", "details", "request_id"}


# --- helpers -----------------------------------------------------------------------------


def listing(api: ApiClient, params: Any = None, path: str = TASKS) -> TestResponse:
    response = api.get(path, query_string=params or {})
    assert response.status_code == 200, response.json
    return response


def sorted_by(sort: str) -> dict[str, str]:
    """The `sort` parameter, or none for "" (the default sort)."""
    return {"sort": sort} if sort else {}


def ids(api: ApiClient, params: Any = None) -> list[int]:
    return [item["id"] for item in listing(api, params).json["items"]]


def make(api: ApiClient, count: int, **fields: Any) -> list[int]:
    return [api.create_task(title=f"task{i:02d}", **fields)["id"] for i in range(count)]


def links(response: TestResponse) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def walk(
    api: ApiClient, params: Any = None, path: str = TASKS, *, strict: bool = True
) -> list[TestResponse]:
    """Every page, following `next` links from the first request (up to a failing one when
    not `strict`)."""
    responses = [api.get(path, query_string=params or {})]
    while responses[-1].status_code == 200 and "next" in links(responses[-1]):
        assert len(responses) < 100, "the next links never end"
        responses.append(api.get(links(responses[-1])["next"]))
    if strict:
        assert responses[-1].status_code == 200, responses[-1].json
    return responses


def walked_ids(responses: list[TestResponse]) -> list[int]:
    return [item["id"] for response in responses for item in response.json["items"]]


def invalid_query_problem(response: TestResponse, *params: str) -> str | None:
    """What keeps `response` from being SPEC §6's 400 `invalid_query` naming one of `params`."""
    body = response.json
    if response.status_code != 400:
        return f"HTTP {response.status_code}: {body}"
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        return f"not the error shape: {body}"
    if (body["code"], body["status"]) != ("invalid_query", 400):
        return f"code {body['code']!r}, status {body['status']!r}"
    if not isinstance(body["error"], str) or not body["error"]:
        return f"error {body['error']!r}"
    if not isinstance(body["request_id"], str) or not body["request_id"]:
        return f"request_id {body['request_id']!r}"
    details = body["details"]
    if not isinstance(details, dict) or not details or not set(details) <= set(params):
        return f"details {details!r} do not name {' or '.join(params)}"
    for messages in details.values():
        if not isinstance(messages, list) or not messages:
            return f"details {details!r}"
        if not all(isinstance(message, str) and message for message in messages):
            return f"details {details!r}"
    return None


def assert_invalid_query(response: TestResponse, *params: str) -> None:
    problem = invalid_query_problem(response, *params)
    assert problem is None, problem


def forged_cursor(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- filters -----------------------------------------------------------------------------


def test_q_matches_title_or_description_case_insensitively(alice):
    title = alice.create_task(title="Buy MILK")["id"]
    description = alice.create_task(title="groceries", description="Oat milk and bread")["id"]
    alice.create_task(title="call mom", description="about the weekend")

    assert ids(alice, {"q": "milk", "sort": "id"}) == [title, description]
    assert ids(alice, {"q": "MiLk", "sort": "id"}) == [title, description]
    assert ids(alice, {"q": "oat MILK"}) == [description]
    assert ids(alice, {"q": "buy milk"}) == [title]
    assert ids(alice, {"q": "nothing like it"}) == []


def test_q_treats_like_wildcards_literally(alice):
    percent = alice.create_task(title="50% off")["id"]
    alice.create_task(title="50 percent off")
    underscore = alice.create_task(title="snake_case")["id"]
    alice.create_task(title="snakexcase")
    backslash = alice.create_task(title="back\\slash")["id"]
    alice.create_task(title="backslash")

    assert ids(alice, {"q": "%"}) == [percent]
    assert ids(alice, {"q": "50%off"}) == []
    assert ids(alice, {"q": "50%"}) == [percent]
    assert ids(alice, {"q": "_"}) == [underscore]
    assert ids(alice, {"q": "e_c"}) == [underscore]
    assert ids(alice, {"q": "\\"}) == [backslash]
    assert ids(alice, {"q": "k\\s"}) == [backslash]


def test_status_filter_single_and_comma_list(alice):
    pending = alice.create_task(status="pending")["id"]
    in_progress = alice.create_task(status="in_progress")["id"]
    completed = alice.create_task(status="completed")["id"]
    failed = alice.create_task(status="failed")["id"]

    assert ids(alice, {"status": "pending"}) == [pending]
    assert ids(alice, {"status": "in_progress"}) == [in_progress]
    assert ids(alice, {"status": "completed"}) == [completed]
    assert ids(alice, {"status": "pending,failed", "sort": "id"}) == [pending, failed]
    assert ids(alice, {"status": "completed,in_progress,failed", "sort": "id"}) == [
        in_progress,
        completed,
        failed,
    ]


def test_priority_exact_and_inclusive_bounds(alice):
    p1, p2, p3, p4, p5 = (alice.create_task(priority=p)["id"] for p in range(1, 6))

    assert ids(alice, {"priority": 3}) == [p3]
    assert ids(alice, {"priority_min": 4, "sort": "id"}) == [p4, p5]
    assert ids(alice, {"priority_max": 2, "sort": "id"}) == [p1, p2]
    assert ids(alice, {"priority_min": 2, "priority_max": 4, "sort": "id"}) == [p2, p3, p4]
    assert ids(alice, {"priority_min": 3, "priority_max": 3}) == [p3]
    assert ids(alice, {"priority": 5, "priority_min": 1, "priority_max": 4}) == []


def test_tag_filter_requires_every_tag(alice, bob):
    both = alice.create_task(tags=["Work", "home"])["id"]
    work = alice.create_task(tags=["work"])["id"]
    home = alice.create_task(tags=["home", "garden"])["id"]
    alice.create_task()
    bob.create_task(tags=["work", "shared"])

    assert ids(alice, {"tag": "work", "sort": "id"}) == [both, work]
    assert ids(alice, {"tag": "WORK", "sort": "id"}) == [both, work]
    assert ids(alice, {"tag": "home", "sort": "id"}) == [both, home]
    assert ids(alice, [("tag", "work"), ("tag", "home")]) == [both]
    assert ids(alice, [("tag", "Home"), ("tag", "GARDEN")]) == [home]
    assert ids(alice, [("tag", "work"), ("tag", "garden")]) == []
    assert ids(alice, {"tag": "shared"}) == []
    assert ids(alice, {"tag": "missing"}) == []


def test_due_window_is_half_open(alice):
    day1 = alice.create_task(due_at="2030-01-01T00:00:00Z")["id"]
    day2 = alice.create_task(due_at="2030-01-02T00:00:00Z")["id"]
    day3 = alice.create_task(due_at="2030-01-03T00:00:00Z")["id"]
    alice.create_task()  # no due date: in no window

    assert ids(alice, {"due_after": "2030-01-02T00:00:00Z", "sort": "id"}) == [day2, day3]
    assert ids(alice, {"due_before": "2030-01-02T00:00:00Z"}) == [day1]
    window = {"due_after": "2030-01-01T00:00:00Z", "due_before": "2030-01-03T00:00:00Z"}
    assert ids(alice, {**window, "sort": "id"}) == [day1, day2]
    # Day ranges compose: [day1, day2) and [day2, day3) do not overlap.
    assert ids(
        alice, {"due_after": "2030-01-02T00:00:00Z", "due_before": "2030-01-03T00:00:00Z"}
    ) == [day2]
    # Offsets are honoured and a time without one is UTC.
    assert ids(alice, {"due_after": "2030-01-02T01:00:00+01:00", "sort": "id"}) == [day2, day3]
    assert ids(alice, {"due_before": "2030-01-01T19:00:00-05:00"}) == [day1]
    assert ids(alice, {"due_before": "2030-01-02T00:00:00"}) == [day1]
    assert ids(alice, {"due_after": "2030-01-02T00:00:00.000001Z"}) == [day3]


def test_overdue_true_and_false(alice):
    """Overdue: due before now and not completed; no due date or completed is never overdue."""
    past_pending = alice.create_task(due_at=PAST)["id"]
    past_in_progress = alice.create_task(due_at=PAST, status="in_progress")["id"]
    past_failed = alice.create_task(due_at=PAST, status="failed")["id"]
    past_completed = alice.create_task(due_at=PAST, status="completed")["id"]
    past_completed_later = alice.create_task(due_at=PAST)["id"]
    assert alice.post(f"{TASKS}/{past_completed_later}/complete").status_code == 200
    future = alice.create_task(due_at=FUTURE)["id"]
    no_due = alice.create_task()["id"]

    assert ids(alice, {"overdue": "true", "sort": "id"}) == [
        past_pending,
        past_in_progress,
        past_failed,
    ]
    assert ids(alice, {"overdue": "false", "sort": "id"}) == [
        past_completed,
        past_completed_later,
        future,
        no_due,
    ]


def test_completed_true_and_false(alice):
    pending = alice.create_task()["id"]
    completed = alice.create_task(status="completed")["id"]
    failed = alice.create_task(status="failed")["id"]
    in_progress = alice.create_task(status="in_progress")["id"]
    completed_later = alice.create_task()["id"]
    assert alice.post(f"{TASKS}/{completed_later}/complete").status_code == 200

    assert ids(alice, {"completed": "true", "sort": "id"}) == [completed, completed_later]
    assert ids(alice, {"completed": "false", "sort": "id"}) == [pending, failed, in_progress]


def test_deleted_exclude_include_only(alice):
    live = alice.create_task()["id"]
    trashed = alice.create_task()["id"]
    restored = alice.create_task()["id"]
    for task_id in (trashed, restored):
        assert alice.delete(f"{TASKS}/{task_id}").status_code == 204
    assert alice.post(f"{TASKS}/{restored}/restore").status_code == 200

    assert ids(alice, {"sort": "id"}) == [live, restored]
    assert ids(alice, {"deleted": "exclude", "sort": "id"}) == [live, restored]
    assert ids(alice, {"deleted": "include", "sort": "id"}) == [live, trashed, restored]
    assert ids(alice, {"deleted": "only"}) == [trashed]
    assert listing(alice, {"deleted": "only"}).json["total"] == 1
    assert listing(alice, {"deleted": "include"}).json["total"] == 3


def test_filters_combine_and_see_only_the_callers_tasks(alice, bob):
    match = alice.create_task(title="report", priority=4, tags=["work"], due_at=FUTURE)["id"]
    alice.create_task(title="report", priority=2, tags=["work"], due_at=FUTURE)
    alice.create_task(title="report", priority=4, tags=["home"], due_at=FUTURE)
    alice.create_task(title="report", priority=4, tags=["work"], status="completed")
    bob.create_task(title="report", priority=4, tags=["work"], due_at=FUTURE)

    params = {"q": "REPORT", "priority_min": 3, "tag": "work", "completed": "false"}
    response = listing(alice, params)
    assert [item["id"] for item in response.json["items"]] == [match]
    assert response.json["total"] == 1
    assert ids(bob, {"sort": "id"}) != []
    assert set(ids(bob)).isdisjoint(ids(alice, {"deleted": "include"}))


@pytest.mark.parametrize(
    "name",
    [
        "q",
        "status",
        "priority",
        "tag",
        "sort",
        "page",
        "per_page",
        "cursor",
        "due_before",
        "overdue",
        "completed",
    ],
)
def test_an_empty_value_is_a_bad_value(alice, name):
    response = alice.get(TASKS, query_string={name: ""})
    assert response.status_code == 400
    assert response.json["code"] == "invalid_query"
    assert name in response.json["details"]


# --- sorting -----------------------------------------------------------------------------


def sort_dataset(api: ApiClient) -> list[int]:
    """Five tasks t0..t4 (creation order); updated_at order t1, t3, t4, t2, t0."""
    specs = [
        {"title": "delta", "priority": 2, "status": "pending", "due_at": "2030-01-03T00:00:00Z"},
        {"title": "alpha", "priority": 5, "status": "completed"},
        {"title": "charlie", "priority": 2, "status": "failed", "due_at": "2030-01-01T00:00:00Z"},
        {"title": "bravo", "priority": 4, "status": "in_progress"},
        {"title": "echo", "priority": 1, "status": "pending", "due_at": "2030-01-02T00:00:00Z"},
    ]
    tasks = [api.create_task(**spec)["id"] for spec in specs]
    for index in (2, 0):
        response = api.patch(f"{TASKS}/{tasks[index]}", json={"description": "touched"})
        assert response.status_code == 200, response.json
    return tasks


ASCENDING = {
    "created_at": [0, 1, 2, 3, 4],
    "id": [0, 1, 2, 3, 4],
    "updated_at": [1, 3, 4, 2, 0],
    "priority": [4, 0, 2, 3, 1],
    "title": [1, 3, 2, 0, 4],
    "status": [1, 2, 3, 0, 4],
    "due_at": [2, 4, 0, 1, 3],
}


MULTI_KEY = {
    "priority,title": [4, 2, 0, 3, 1],
    "-priority,title": [1, 3, 2, 0, 4],
    "status,-title": [1, 2, 3, 4, 0],
    "-status,-title": [4, 0, 3, 2, 1],
    "due_at,priority": [2, 4, 0, 3, 1],
    "-due_at,-priority": [1, 3, 0, 4, 2],
    "-due_at,priority": [3, 1, 0, 4, 2],
    "id,title": [0, 1, 2, 3, 4],
    "-id,priority": [4, 3, 2, 1, 0],
}


def test_each_sort_key_both_directions(alice):
    """Descending is the exact reverse: ties (priority 2, status pending, no due date) break
    by id in the key's direction, and tasks without a due date come last ascending, first
    descending. Status sorts by its name."""
    tasks = sort_dataset(alice)
    expected = {}
    for key, order in ASCENDING.items():
        expected[key] = [tasks[i] for i in order]
        expected[f"-{key}"] = expected[key][::-1]
    assert {sort: ids(alice, {"sort": sort}) for sort in expected} == expected
    assert ids(alice) == expected["-created_at"]


def test_multi_key_sorts(alice):
    tasks = sort_dataset(alice)
    expected = {sort: [tasks[i] for i in order] for sort, order in MULTI_KEY.items()}
    assert {sort: ids(alice, {"sort": sort}) for sort in expected} == expected


def test_id_breaks_ties_in_the_last_keys_direction(alice):
    tasks = [alice.create_task(title="same", priority=3)["id"] for _ in range(3)]
    ascending = ["title", "-priority,title", "status,priority,title", "due_at", "-due_at,priority"]
    descending = ["-title", "priority,-title", "-due_at", "priority,-due_at", "-status"]
    expected = {sort: tasks for sort in ascending} | {sort: tasks[::-1] for sort in descending}
    assert {sort: ids(alice, {"sort": sort}) for sort in expected} == expected


def test_tasks_without_due_date_sort_last_ascending_first_descending(alice):
    later = alice.create_task(due_at="2030-01-02T00:00:00Z")["id"]
    never_a = alice.create_task()["id"]
    sooner = alice.create_task(due_at="2030-01-01T00:00:00+00:00")["id"]
    never_b = alice.create_task()["id"]

    assert ids(alice, {"sort": "due_at"}) == [sooner, later, never_a, never_b]
    assert ids(alice, {"sort": "-due_at"}) == [never_b, never_a, later, sooner]
    # Across pages too.
    assert walked_ids(walk(alice, {"sort": "due_at", "per_page": 1})) == [
        sooner,
        later,
        never_a,
        never_b,
    ]


# --- pages -------------------------------------------------------------------------------


def test_page_envelope_defaults_and_max(alice):
    tasks = make(alice, 25)[::-1]  # newest first

    first = listing(alice).json
    assert {key: first[key] for key in ("total", "page", "per_page", "pages")} == {
        "total": 25,
        "page": 1,
        "per_page": 20,
        "pages": 2,
    }
    assert [item["id"] for item in first["items"]] == tasks[:20]
    second = listing(alice, {"page": 2}).json
    assert (second["page"], second["per_page"], second["pages"]) == (2, 20, 2)
    assert [item["id"] for item in second["items"]] == tasks[20:]

    everything = listing(alice, {"per_page": 100}).json
    assert (everything["per_page"], everything["pages"]) == (100, 1)
    assert [item["id"] for item in everything["items"]] == tasks
    assert_invalid_query(alice.get(TASKS, query_string={"per_page": 101}), "per_page")

    pages_of_7 = listing(alice, {"per_page": 7, "page": 4}).json
    assert (pages_of_7["page"], pages_of_7["pages"], pages_of_7["total"]) == (4, 4, 25)
    assert [item["id"] for item in pages_of_7["items"]] == tasks[21:]


def test_page_beyond_the_last_is_empty(alice):
    make(alice, 3)
    response = listing(alice, {"page": 5, "per_page": 2})
    assert response.json["items"] == []
    assert (response.json["total"], response.json["page"], response.json["pages"]) == (3, 5, 2)
    assert "next" not in links(response)
    assert query_of(links(response)["last"])["page"] == ["2"]


def test_skip_and_limit_are_aliases(alice):
    tasks = make(alice, 12)[::-1]

    response = listing(alice, {"skip": 10, "limit": 5}).json
    assert [item["id"] for item in response["items"]] == tasks[10:]
    assert (response["page"], response["per_page"], response["pages"]) == (3, 5, 3)
    # Links page by per_page, whichever alias the request used.
    first_link = query_of(links(listing(alice, {"limit": 5}))["first"])
    assert first_link["per_page"] == ["5"]
    assert "limit" not in first_link
    assert "skip" not in first_link
    assert ids(alice, {"skip": 3, "limit": 4}) == tasks[3:7]
    assert ids(alice, {"limit": 2}) == tasks[:2]
    assert ids(alice, {"skip": 11}) == tasks[11:]
    assert ids(alice, {"skip": 0, "sort": "id", "limit": 3}) == sorted(tasks)[:3]
    assert ids(alice, {"skip": 12}) == []
    assert_invalid_query(alice.get(TASKS, query_string={"limit": 101}), "limit")
    assert_invalid_query(alice.get(TASKS, query_string={"limit": 0}), "limit")
    assert_invalid_query(alice.get(TASKS, query_string={"skip": -1}), "skip")


def test_link_relations_on_first_middle_and_last_pages(alice):
    tasks = make(alice, 25, due_at=FUTURE)
    params = {"q": "task", "sort": "due_at", "per_page": 10}

    def page(number: int) -> dict[str, dict[str, list[str]]]:
        response = listing(alice, {**params, "page": number})
        return {rel: query_of(url) for rel, url in links(response).items()}

    first = page(1)
    assert set(first) == {"first", "next", "last"}
    middle = page(2)
    assert set(middle) == {"first", "prev", "next", "last"}
    last = page(3)
    assert set(last) == {"first", "prev", "last"}

    assert middle["first"]["page"] == ["1"]
    assert middle["prev"]["page"] == ["1"]
    assert middle["next"]["page"] == ["3"]
    assert middle["last"]["page"] == ["3"]
    assert last["prev"]["page"] == ["2"]
    assert first["next"]["page"] == ["2"]
    for relations in (first, middle, last):
        for query in relations.values():
            # Links keep the filters, the sort and the page size.
            assert query["q"] == ["task"]
            assert query["sort"] == ["due_at"]
            assert query["per_page"] == ["10"]
            assert "cursor" not in query

    # A list that fits one page links only to itself.
    single = listing(alice, {"per_page": 100})
    assert set(links(single)) == {"first", "last"}
    assert walked_ids(walk(alice, params)) == tasks


def test_links_are_followable_urls(alice):
    make(alice, 3)
    response = listing(alice, {"per_page": 2, "status": "pending"})
    relations = links(response)
    for rel in ("first", "last", "next"):
        target = alice.get(relations[rel])
        assert target.status_code == 200, (rel, target.json)
    assert alice.get(relations["first"]).json == response.json


CURSOR_SORTS = [
    "",  # the default, -created_at
    *[prefix + key for key in ASCENDING if key != "due_at" for prefix in ("", "-")],
    "priority,title",
    "-status,-priority,-created_at",
]
PAGE_NUMBER_SORTS = ["due_at", "-due_at", "priority,due_at", "title,-priority", "-title,priority"]


def test_next_link_carries_a_cursor_only_for_single_direction_sorts_without_due_at(alice):
    specs = [("bbb", FUTURE), ("aaa", None), ("ccc", PAST)]
    tasks = [alice.create_task(title=title, due_at=due)["id"] for title, due in specs]
    kinds, followed = {}, {}
    for sort in CURSOR_SORTS + PAGE_NUMBER_SORTS:
        first = listing(alice, {"per_page": 2, **sorted_by(sort)})
        next_url = links(first)["next"]
        next_query = query_of(next_url)
        kinds[sort] = sorted(set(next_query) & {"cursor", "page"})
        second = alice.get(next_url)
        if second.status_code != 200:
            followed[sort] = second.status_code
            continue
        seen = [item["id"] for item in first.json["items"] + second.json["items"]]
        prev = query_of(links(second).get("prev", "?"))
        followed[sort] = (sorted(seen), second.json["page"], "next" in links(second), prev)

    assert kinds == {sort: ["cursor"] for sort in CURSOR_SORTS} | {
        sort: ["page"] for sort in PAGE_NUMBER_SORTS
    }
    prev_page = {"per_page": ["2"], "page": ["1"]}
    assert followed == {
        sort: (sorted(tasks), 2, False, prev_page | ({"sort": [sort]} if sort else {}))
        for sort in CURSOR_SORTS + PAGE_NUMBER_SORTS
    }


STATUSES = ["pending", "in_progress", "completed", "failed"]


def walk_dataset(api: ApiClient, count: int = 45) -> list[dict[str, Any]]:
    records = []
    for i in range(count):
        due = None if i % 3 == 0 else datetime(2030, 1, 1 + i % 7, tzinfo=UTC)
        fields = {
            "title": f"task{(i * 17) % count:02d}",
            "priority": i % 5 + 1,
            "status": STATUSES[i % 4],
            "due_at": due.isoformat() if due else None,
        }
        task = api.create_task(**fields)
        records.append({**fields, "id": task["id"], "created_at": i, "updated_at": i, "due": due})
    return records


def expected_order(records: list[dict[str, Any]], sort: str | None) -> list[int]:
    """The documented order: keys, then id in the last key's direction; no due date = never."""
    keys = [(key.lstrip("-"), key.startswith("-")) for key in (sort or "-created_at").split(",")]
    if "id" not in [key for key, _ in keys]:
        keys.append(("id", keys[-1][1]))
    ordered = list(records)
    for key, desc in reversed(keys):  # stable sorts, least significant key first
        if key == "due_at":
            ordered.sort(key=lambda r: (r["due"] is None, r["due"] or datetime.min), reverse=desc)
        else:
            ordered.sort(key=lambda r, key=key: r[key], reverse=desc)
    return [record["id"] for record in ordered]


def test_walking_next_links_yields_every_task_once_in_order(alice):
    records = walk_dataset(alice)
    by_cursor = [
        "",
        "created_at",
        "-updated_at",
        "-title",
        "priority",
        "-priority,-status",
        "status,title",
    ]
    by_number = ["due_at", "-due_at", "priority,-title", "-status,created_at"]
    orders, pages, next_links = {}, {}, {}
    for sort in by_cursor + by_number:
        responses = walk(alice, {"per_page": 10, **sorted_by(sort)}, strict=False)
        if responses[-1].status_code != 200:
            orders[sort] = f"HTTP {responses[-1].status_code} on page {len(responses)}"
            continue
        orders[sort] = walked_ids(responses)
        pages[sort] = [
            (
                r.json["page"],
                r.json["per_page"],
                r.json["pages"],
                r.json["total"],
                len(r.json["items"]),
            )
            for r in responses
        ]
        next_links[sort] = [
            sorted(set(query_of(links(r)["next"])) & {"cursor", "page"}) for r in responses[:-1]
        ]

    assert orders == {sort: expected_order(records, sort) for sort in by_cursor + by_number}
    expected_pages = [(n, 10, 5, 45, 10) for n in range(1, 5)] + [(5, 10, 5, 45, 5)]
    assert pages == dict.fromkeys(by_cursor + by_number, expected_pages)
    assert next_links == dict.fromkeys(by_cursor, [["cursor"]] * 4) | dict.fromkeys(
        by_number, [["page"]] * 4
    )


def test_cursor_walk_keeps_filters(alice):
    records = walk_dataset(alice, 24)
    responses = walk(alice, {"per_page": 4, "status": "pending,failed", "sort": "title"})
    wanted = [r for r in records if r["status"] in ("pending", "failed")]
    assert walked_ids(responses) == expected_order(wanted, "title")
    assert len(responses) == 3
    assert all(query_of(links(r)["next"])["status"] == ["pending,failed"] for r in responses[:-1])


def next_cursor(api: ApiClient, params: dict[str, Any]) -> str:
    response = listing(api, {"per_page": 1, **params})
    return query_of(links(response)["next"])["cursor"][0]


def test_cursor_only_works_with_its_sort(alice):
    tasks = make(alice, 3)
    cursor = next_cursor(alice, {"sort": "title"})
    assert ids(alice, {"sort": "title", "per_page": 1, "cursor": cursor}) == [tasks[1]]

    for sort in ("-title", "created_at", "title,priority", "due_at", "priority,-title"):
        response = alice.get(TASKS, query_string={"sort": sort, "per_page": 1, "cursor": cursor})
        assert_invalid_query(response, "cursor")
    response = alice.get(TASKS, query_string={"per_page": 1, "cursor": cursor})
    assert_invalid_query(response, "cursor")


def test_cursor_of_another_user_shows_nothing_of_theirs(alice, bob):
    alice_tasks = make(alice, 3)
    bob_tasks = make(bob, 3)
    cursor = next_cursor(bob, {})
    response = alice.get(TASKS, query_string={"per_page": 5, "cursor": cursor})
    if response.status_code == 400:
        assert_invalid_query(response, "cursor")
    else:
        assert response.status_code == 200, response.json
        seen = {item["id"] for item in response.json["items"]}
        assert seen <= set(alice_tasks)
        assert not seen & set(bob_tasks)


GARBAGE_CURSORS = {
    "not base64": "garbage",
    "punctuation": "!!!!",
    "not json": base64.urlsafe_b64encode(b'{"s": "-created_at').decode(),
    "bad time": forged_cursor({"s": "-created_at,-id", "v": ["yesterday", 1], "p": 2}),
    "time without offset": forged_cursor(
        {"s": "-created_at,-id", "v": ["2030-01-01T00:00:00", 1], "p": 2}
    ),
    "null time": forged_cursor({"s": "-created_at,-id", "v": [None, 1], "p": 2}),
    "string id": forged_cursor(
        {"s": "-created_at,-id", "v": ["2030-01-01T00:00:00+00:00", "x"], "p": 2}
    ),
    "too few values": forged_cursor({"s": "-created_at,-id", "v": [1], "p": 2}),
    "page 1": forged_cursor(
        {"s": "-created_at,-id", "v": ["2030-01-01T00:00:00+00:00", 1], "p": 1}
    ),
    "no page": forged_cursor({"s": "-created_at,-id", "v": ["2030-01-01T00:00:00+00:00", 1]}),
    "values not a list": forged_cursor({"s": "-created_at,-id", "v": "ab", "p": 2}),
    "not an object": forged_cursor(["not", "an", "object"]),
    "string priority": forged_cursor({"s": "priority,id", "v": ["5", 1], "p": 2}),
}


def test_garbage_cursor_is_400(alice):
    make(alice, 2)
    problems = {}
    for label, cursor in GARBAGE_CURSORS.items():
        sort = "priority" if label == "string priority" else ""
        response = alice.get(TASKS, query_string={"cursor": cursor, **sorted_by(sort)})
        problems[label] = invalid_query_problem(response, "cursor")
    assert problems == dict.fromkeys(GARBAGE_CURSORS)


# --- query errors ------------------------------------------------------------------------


BAD_QUERIES = {
    "bogus=1": {"bogus"},
    "Status=pending": {"Status"},
    "status=done": {"status"},
    "status=pending,bogus": {"status"},
    "sort=name": {"sort"},
    "sort=title,%2Bpriority": {"sort"},
    "sort=title,-title": {"sort"},
    "sort=priority,priority": {"sort"},
    "sort=title,": {"sort"},
    "per_page=0": {"per_page"},
    "per_page=101": {"per_page"},
    "per_page=ten": {"per_page"},
    "page=0": {"page"},
    "page=-1": {"page"},
    "page=two": {"page"},
    "page=1.5": {"page"},
    "priority=6": {"priority"},
    "priority=0": {"priority"},
    "priority=high": {"priority"},
    "priority_min=0": {"priority_min"},
    "priority_max=6": {"priority_max"},
    "priority_min=4&priority_max=2": {"priority_min", "priority_max"},
    "due_before=tomorrow": {"due_before"},
    "due_after=2030-13-01T00:00:00Z": {"due_after"},
    "overdue=maybe": {"overdue"},
    "completed=sometimes": {"completed"},
    "deleted=all": {"deleted"},
    "tag=a,b": {"tag"},
    "tag=" + "x" * 51: {"tag"},
    "q=" + "x" * 201: {"q"},
    "page=2&skip=10": {"page", "skip"},
    "page=2&cursor=abc": {"page", "cursor"},
    "skip=2&cursor=abc": {"skip", "cursor"},
    "per_page=10&limit=10": {"per_page", "limit"},
    "priority=1&priority=2": {"priority"},
    "q=a&q=b": {"q"},
    "status=pending&status=failed": {"status"},
    "sort=title&sort=-id": {"sort"},
    "page=1&page=1": {"page"},
    "deleted=include&deleted=include": {"deleted"},
}


def test_bad_query_is_400_naming_the_parameter(alice):
    problems = {
        query: invalid_query_problem(alice.get(f"{TASKS}?{query}"), *named)
        for query, named in BAD_QUERIES.items()
    }
    assert problems == dict.fromkeys(BAD_QUERIES)


def test_every_bad_parameter_is_named_at_once(alice):
    response = alice.get(f"{TASKS}?status=done&priority=9&bogus=1&sort=name")
    assert_invalid_query(response, "status", "priority", "bogus", "sort")
    assert set(response.json["details"]) == {"status", "priority", "bogus", "sort"}


# --- events ------------------------------------------------------------------------------


def task_with_events(api: ApiClient, changes: int) -> int:
    task_id = api.create_task(title="v0")["id"]
    for version in range(1, changes + 1):
        response = api.patch(f"{TASKS}/{task_id}", json={"title": f"v{version}"})
        assert response.status_code == 200, response.json
    return task_id


def test_events_oldest_first_and_paged(alice):
    task_id = task_with_events(alice, 6)
    path = f"{TASKS}/{task_id}/events"

    everything = listing(alice, None, path).json
    assert (everything["total"], everything["page"], everything["per_page"]) == (7, 1, 20)
    assert everything["pages"] == 1
    events = everything["items"]
    assert [event["kind"] for event in events] == ["created"] + ["updated"] * 6
    assert [event["data"]["changes"]["title"][1] for event in events[1:]] == [
        f"v{n}" for n in range(1, 7)
    ]
    event_ids = [event["id"] for event in events]
    assert event_ids == sorted(event_ids)

    second = listing(alice, {"page": 2, "per_page": 3}, path).json
    assert [event["id"] for event in second["items"]] == event_ids[3:6]
    assert (second["total"], second["pages"]) == (7, 3)
    assert [e["id"] for e in listing(alice, {"skip": 5, "limit": 3}, path).json["items"]] == (
        event_ids[5:]
    )
    assert listing(alice, {"page": 4, "per_page": 3}, path).json["items"] == []


def test_events_next_links_walk_every_event_once(alice):
    task_id = task_with_events(alice, 6)
    path = f"{TASKS}/{task_id}/events"
    event_ids = [event["id"] for event in listing(alice, None, path).json["items"]]

    responses = walk(alice, {"per_page": 3}, path)
    assert walked_ids(responses) == event_ids
    assert [r.json["page"] for r in responses] == [1, 2, 3]
    for response in responses[:-1]:
        next_query = query_of(links(response)["next"])
        assert "cursor" in next_query
        assert "page" not in next_query
    assert set(links(responses[0])) == {"first", "next", "last"}
    assert set(links(responses[1])) == {"first", "prev", "next", "last"}
    assert set(links(responses[2])) == {"first", "prev", "last"}
    assert query_of(links(responses[1])["last"])["page"] == ["3"]
    assert urlsplit(links(responses[0])["next"]).path == path


def test_events_query_errors(alice, bob):
    task_id = task_with_events(alice, 1)
    path = f"{TASKS}/{task_id}/events"
    for query, named in [
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("page=0", "page"),
        ("status=pending", "status"),
        ("sort=id", "sort"),
        ("cursor=garbage", "cursor"),
        ("page=1&page=2", "page"),
    ]:
        assert_invalid_query(alice.get(f"{path}?{query}"), named)
    assert_invalid_query(alice.get(f"{path}?page=2&cursor=abc"), "page", "cursor")
    assert_invalid_query(alice.get(f"{path}?per_page=2&limit=2"), "per_page", "limit")
    # A cursor from the task list is not an events cursor.
    make(alice, 3)
    cursor = next_cursor(alice, {})
    assert_invalid_query(alice.get(path, query_string={"cursor": cursor}), "cursor")
    assert bob.get(path).status_code == 404


# --- tags --------------------------------------------------------------------------------


def test_tags_count_the_callers_live_tasks_by_name(alice, bob):
    alice.create_task(tags=["Work", "home"])
    alice.create_task(tags=["work"])
    alice.create_task(tags=["work", "errand"])
    only_in_trash = alice.create_task(tags=["zeta", "home"])["id"]
    assert alice.delete(f"{TASKS}/{only_in_trash}").status_code == 204
    untagged = alice.create_task(tags=["abandoned"])["id"]
    assert alice.patch(f"{TASKS}/{untagged}", json={"tags": []}).status_code == 200
    errand = alice.create_task(tags=["errand"])["id"]
    assert alice.delete(f"{TASKS}/{errand}").status_code == 204
    bob.create_task(tags=["work", "bobs", "alpha"])

    response = alice.get("/api/tags")
    assert response.status_code == 200, response.json
    assert response.json == [
        {"name": "errand", "count": 1},
        {"name": "home", "count": 1},
        {"name": "work", "count": 3},
    ]
    assert bob.get("/api/tags").json == [
        {"name": "alpha", "count": 1},
        {"name": "bobs", "count": 1},
        {"name": "work", "count": 1},
    ]

    assert alice.post(f"{TASKS}/{only_in_trash}/restore").status_code == 200
    assert alice.get("/api/tags").json == [
        {"name": "errand", "count": 1},
        {"name": "home", "count": 2},
        {"name": "work", "count": 3},
        {"name": "zeta", "count": 1},
    ]


def test_tags_of_a_user_without_tasks_is_empty(alice, bob):
    bob.create_task(tags=["private"])
    response = alice.get("/api/tags")
    assert response.status_code == 200
    assert response.json == []


def test_tags_counts_are_not_inflated_by_other_users_tags_of_the_same_name(alice, bob):
    alice.create_task(tags=["shared"])
    for _ in range(3):
        bob.create_task(tags=["shared"])
    assert alice.get("/api/tags").json == [{"name": "shared", "count": 1}]
    assert bob.get("/api/tags").json == [{"name": "shared", "count": 3}]
    assert ids(alice, {"tag": "shared"}) != []
    assert len(ids(bob, {"tag": "shared"})) == 3
