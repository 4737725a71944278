"""TaskSchema's written-out dump answers exactly what marshmallow's dump of its declared
fields (the OpenAPI document's) answers, for tasks of every shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema

from tasktracker.models import Tag, Task, TaskStatus
from tasktracker.schemas import TaskPageSchema, TaskSchema

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
tasks = st.builds(
    lambda id_, title, description, priority, status, times, due, deleted, tags, version: Task(
        id=id_,
        title=title,
        description=description,
        priority=priority,
        status=status,
        completed_at=times if status == TaskStatus.COMPLETED else None,
        due_at=due,
        created_at=times,
        updated_at=times + timedelta(microseconds=1),
        deleted_at=deleted,
        version=version,
        tags=[Tag(name=name) for name in tags],
    ),
    st.integers(1, 2**63 - 1),
    st.text(min_size=1, max_size=200),
    st.text(max_size=300),
    st.integers(1, 5),
    st.sampled_from([status.value for status in TaskStatus]),
    moments.filter(lambda m: m.year < 9999),
    st.none() | moments,
    st.none() | moments,
    st.lists(st.text(min_size=1, max_size=50), max_size=5, unique=True),
    st.integers(1, 2**31 - 1),
)


@settings(max_examples=200, deadline=None)
@given(task=tasks)
def test_the_written_out_dump_is_marshmallows(app: Flask, task: Task) -> None:
    schema = TaskSchema()
    with app.test_request_context():
        assert schema.dump(task) == Schema.dump(schema, task)


def test_pages_and_limited_instances_dump_alike(app: Flask) -> None:
    task = Task(
        id=7, title="T", description="", priority=3, status="pending", completed_at=None,
        due_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        created_at=datetime(2026, 1, 1, tzinfo=UTC), updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        deleted_at=None, version=1, tags=[Tag(name="b"), Tag(name="a")],
    )  # fmt: skip
    with app.test_request_context():
        page = TaskPageSchema().dump(
            {"items": [task, task], "total": 2, "total_exact": True, "page": 1,
             "per_page": 20, "pages": 1}
        )  # fmt: skip
        assert page["items"] == [Schema.dump(TaskSchema(), task)] * 2
        assert page["items"][0]["tags"] == ["a", "b"]
        assert TaskSchema(exclude=("url",)).dump(task) == {
            key: value for key, value in Schema.dump(TaskSchema(), task).items() if key != "url"
        }
