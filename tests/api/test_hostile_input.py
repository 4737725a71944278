"""Hostile input by classes, not examples (Hypothesis): any string where a string goes, any
date-time with any offset, any bytes in a cursor, any path segment as an id, any email in
HTTP Basic. Whatever comes, the answer is the documented one (SPEC §6): a success, or the
error in its shape naming what was wrong; never a 500; and what was accepted reads back
as it was written."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ApiClient, basic_auth

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ERROR_KEYS = {"error", "code", "status", "request_id"}

# Any offset a date-time may carry (±23:59), on any day Python can hold.
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
date_times = st.builds(lambda moment, tz: moment.replace(tzinfo=tz).isoformat(), aware, offsets)
any_text = st.text(max_size=80)


def _refused(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.get_data())
    body = response.json
    assert set(body) >= ERROR_KEYS, body
    assert body["status"] == response.status_code
    return body


@FUZZ
@given(due_at=st.one_of(date_times, any_text))
def test_any_due_date_is_stored_or_refused_by_name(alice: ApiClient, due_at: str) -> None:
    response = alice.post("/api/tasks", json={"title": "Due", "due_at": due_at})
    if response.status_code == 201:
        stored = datetime.fromisoformat(response.json["due_at"])
        assert stored == datetime.fromisoformat(due_at).astimezone(UTC)
    else:
        assert "due_at" in _refused(response, 422)["details"]


@FUZZ
@given(bound=st.one_of(date_times, any_text), name=st.sampled_from(["due_before", "due_after"]))
def test_any_date_filter_lists_or_is_refused_by_name(
    alice: ApiClient, bound: str, name: str
) -> None:
    response = alice.get("/api/tasks", query_string={name: bound})
    if response.status_code != 200:
        assert name in _refused(response, 400)["details"]


@FUZZ
@given(
    cursor=st.one_of(
        any_text,
        st.binary(max_size=120).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | any_text,
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
            ),
            max_leaves=8,
        ).map(lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode()),
    ),
    sort=st.sampled_from(["-created_at", "title", "-priority", "due_at", "id"]),
)
def test_any_cursor_pages_or_is_refused(alice: ApiClient, cursor: str, sort: str) -> None:
    response = alice.get("/api/tasks", query_string={"cursor": cursor, "sort": sort})
    if response.status_code != 200:
        assert "cursor" in _refused(response, 400)["details"]


@FUZZ
@given(title=any_text, description=st.text(max_size=200), tags=st.lists(any_text, max_size=4))
def test_any_text_is_stored_as_written_or_refused_by_name(
    alice: ApiClient, title: str, description: str, tags: list[str]
) -> None:
    sent = {"title": title, "description": description, "tags": tags}
    response = alice.post("/api/tasks", json=sent)
    if response.status_code != 201:
        details = _refused(response, 422)["details"]
        assert {field.split(".")[0] for field in details} <= {"title", "description", "tags"}
        return
    read = alice.get(response.json["url"]).json
    assert read == response.json
    assert read["title"] in title  # trimmed of white space at most, never rewritten


# Unicode's White_Space and Default_Ignorable_Code_Point characters (DerivedCoreProperties,
# Unicode 15): a text made of them only shows nothing.
NOTHING_VISIBLE = [
    chr(code)
    for first, last in [
        (0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0xAD, 0xAD), (0x34F, 0x34F), (0x61C, 0x61C),
        (0x115F, 0x1160), (0x1680, 0x1680), (0x17B4, 0x17B5), (0x180B, 0x180F),
        (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x206F), (0x3000, 0x3000),
        (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0),
        (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
    ]
    for code in range(first, last + 1)
]  # fmt: skip
nothing_visible = st.text(st.sampled_from(NOTHING_VISIBLE), min_size=1, max_size=12)


@FUZZ
@given(title=nothing_visible, tag=nothing_visible)
def test_text_that_shows_nothing_is_blank(alice: ApiClient, title: str, tag: str) -> None:
    refused = _refused(alice.post("/api/tasks", json={"title": title}), 422)
    assert set(refused["details"]) == {"title"}
    refused = _refused(alice.post("/api/tasks", json={"title": "ok", "tags": [tag]}), 422)
    assert set(refused["details"]) == {"tags.0"}
    around = title.translate(dict.fromkeys(range(0x09, 0x0E)))  # line breaks: not in a title
    shown = alice.post("/api/tasks", json={"title": f"{around}\u2764{around}"})
    assert shown.status_code == 201, shown.json
    assert "\u2764" in shown.json["title"]


@FUZZ
@given(segment=any_text)
def test_any_path_segment_as_an_id_is_found_or_not(alice: ApiClient, segment: str) -> None:
    response = alice.get("/api/tasks/" + segment.replace("/", "%2F").replace("?", "%3F"))
    if response.status_code not in (200, 301, 308):
        _refused(response, 400, 404, 405)


@FUZZ
@given(email=any_text, password=any_text)
def test_any_credentials_are_a_token_or_a_401(alice: ApiClient, email: str, password: str) -> None:
    response = alice.client.post("/api/tokens", headers=basic_auth(email, password))
    assert _refused(response, 401)["code"] == "unauthorized"
