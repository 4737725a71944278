"""The list's queries on PostgreSQL with 100 000 tasks of one owner (and 300 000 of another):
each reads an index in the requested order and stops after a page, never sorting more
rows than a page holds; a cursor makes a deep page as cheap as the first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg2.extensions
import pytest
from flask import Flask
from sqlalchemy import text

from tasktracker.extensions import db
from tasktracker.models import Tag, User
from tasktracker.schemas import MAX_TAGS_PER_TASK
from tasktracker.services import accounts, task_lists
from tasktracker.services.seed import seed_tasks

OWNER_TASKS = 100_000
# The owner's tasks a quarter of the table, not most of it: with the owner's rows most of
# the table, counting a common word's matches (up to 1 000) by a sequential scan that
# stops early is as cheap as by the owner's trigram indexes, and the planner picks either.
OTHER_TASKS = 300_000
OTHER_TAGS = 10_000
PER_PAGE = 20


_COPY_TASKS = """
CREATE TEMP TABLE copied ON COMMIT DROP AS
  SELECT t.id AS old_id, nextval(pg_get_serial_sequence('tasks', 'id')) AS new_id
  FROM tasks t CROSS JOIN generate_series(1, :copies) WHERE t.owner_id = :owner;
INSERT INTO tags (owner_id, name) SELECT :other, name FROM tags WHERE owner_id = :owner;
INSERT INTO tasks (id, owner_id, title, description, priority, status, due_at, completed_at,
                   created_at, updated_at, deleted_at, version)
  SELECT c.new_id, :other, t.title, t.description, t.priority, t.status, t.due_at,
         t.completed_at, t.created_at, t.updated_at, t.deleted_at, t.version
  FROM copied c JOIN tasks t ON t.id = c.old_id;
INSERT INTO task_events (task_id, at, kind, message, data)
  SELECT c.new_id, e.at, e.kind, e.message, e.data
  FROM copied c JOIN task_events e ON e.task_id = c.old_id;
INSERT INTO task_tags (task_id, tag_id)
  SELECT c.new_id, theirs.id
  FROM copied c
  JOIN task_tags link ON link.task_id = c.old_id
  JOIN tags mine ON mine.id = link.tag_id
  JOIN tags theirs ON theirs.owner_id = :other AND theirs.name = mine.name;
"""


@pytest.fixture(scope="module")
def big_owner(app: Flask) -> Iterator[str]:
    """Seeded once for the module and committed (the tests only read), removed afterwards."""
    emails = ("plans-owner@example.com", "plans-other@example.com")
    with app.app_context():
        owner, other = (
            accounts.register_user({"email": e, "name": "Plans", "password": "x" * 12})
            for e in emails
        )
        # As a bulk load is done: the trigram (GIN) indexes are built once the rows are in,
        # which is several times faster than growing them row by row, and makes the same
        # indexes (their definitions are read back from PostgreSQL).
        gin = db.session.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'tasks' AND indexdef LIKE '%USING gin%'"
            )
        ).all()
        for name, _ in gin:
            db.session.execute(text(f'DROP INDEX "{name}"'))
        seed_tasks(owner, OWNER_TASKS, seed=1)
        # The other account's tasks are the owner's, copied on the server (with their
        # events, and their tags by name among the other's own): a fraction of the time
        # seeding them would take, and the same distribution of titles, dates and tags.
        db.session.execute(
            text(_COPY_TASKS),
            {"owner": owner.id, "other": other.id, "copies": OTHER_TASKS // OWNER_TASKS},
        )
        db.session.commit()
        for _, definition in gin:
            db.session.execute(text(definition))
        # Tags of a service with many accounts (a thousand accounts of ten tags), without
        # which the planner would rightly read the two accounts' few tags in one scan.
        db.session.execute(
            Tag.__table__.insert(),
            [{"owner_id": other.id, "name": f"other-{n}"} for n in range(OTHER_TAGS)],
        )
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    yield emails[0]
    with app.app_context():
        db.session.execute(User.__table__.delete().where(User.email.in_(emails)))
        db.session.commit()


def sent(app: Flask, email: str, args: dict[str, Any]) -> tuple[list[str], Any]:
    """The statements on `tasks` the service runs for one page of the list, as psycopg2
    sent them (their values in them), and the page it returned."""
    captured: list[str] = []

    class Recording(psycopg2.extensions.cursor):
        def execute(self, query: Any, params: Any = None) -> None:
            super().execute(query, params)
            if "FROM tasks" in query:
                captured.append((self.query or b"").decode())

    with app.app_context():
        driver = db.session.connection().connection.driver_connection
        driver.cursor_factory = Recording
        try:
            page = task_lists.list_tasks(accounts.user_by_email(email), args)
        finally:
            driver.cursor_factory = psycopg2.extensions.cursor
    return captured, page


def list_query(app: Flask, email: str, args: dict[str, Any]) -> tuple[str, Any]:
    """The SELECT of the page (the list's only statement on `tasks` when its total comes
    from the owner's counters), and the page."""
    statements, page = sent(app, email, args)
    assert len(statements) == 1, statements
    return statements[0], page


def explain(app: Flask, statement: str) -> dict[str, Any]:
    with app.app_context():
        cursor = db.session.connection().connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement)
        (plan,) = cursor.fetchone()
        return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def assert_index_page(plan: dict[str, Any], index: str) -> None:
    """The page's tasks come from `index`, no more than a page of them; their tags are
    looked up by primary key, task by task; nothing is sorted but a page."""
    scans = [n for n in nodes(plan) if n["Node Type"] in ("Index Scan", "Index Only Scan")]
    task_scans = [n for n in scans if n["Relation Name"] == "tasks"]
    assert [n["Index Name"] for n in task_scans] == [index], json.dumps(plan, indent=1)
    assert task_scans[0]["Actual Rows"] <= PER_PAGE + 1
    tag_scans = {n["Index Name"] for n in scans} - {index}
    assert tag_scans <= {"pk_task_tags", "pk_tags"}, json.dumps(plan, indent=1)
    for scan in scans:  # a task's links, and a tag by its id: never a run of other tags
        assert scan["Index Name"] == index or scan["Actual Rows"] <= MAX_TAGS_PER_TASK
    for node in nodes(plan):
        assert (
            node["Node Type"] not in ("Sort", "Incremental Sort") or node["Actual Rows"] <= PER_PAGE
        ), json.dumps(plan, indent=1)
        assert node["Node Type"] != "Seq Scan", json.dumps(plan, indent=1)


@pytest.mark.parametrize(
    ("args", "index"),
    [
        ({}, "ix_tasks_live_created"),
        ({"sort": "created_at"}, "ix_tasks_live_created"),
        ({"status": "pending"}, "ix_tasks_live_status_created"),
        ({"status": "failed"}, "ix_tasks_live_status_created"),
        ({"sort": "-priority"}, "ix_tasks_live_priority"),
        ({"sort": "priority"}, "ix_tasks_live_priority"),
        ({"sort": "due_at"}, "ix_tasks_live_due"),
        ({"sort": "-due_at"}, "ix_tasks_live_due"),
        ({"sort": "-updated_at"}, "ix_tasks_live_updated"),
        ({"sort": "title"}, "ix_tasks_live_title"),
        ({"sort": "status"}, "ix_tasks_live_status"),
        ({"sort": "-status"}, "ix_tasks_live_status"),
        ({"completed": "true"}, "ix_tasks_live_status_created"),
        ({"deleted": "only"}, "ix_tasks_trash_created"),
        ({"deleted": "include"}, "ix_tasks_owner_created"),
    ],
)
def test_list_reads_one_page_from_an_index(
    app: Flask, big_owner: str, args: dict[str, str], index: str
) -> None:
    statement, page = list_query(app, big_owner, {**args, "per_page": PER_PAGE})
    assert len(page.items) == PER_PAGE
    assert_index_page(explain(app, statement), index)


@pytest.mark.parametrize(
    ("sort", "index"),
    [("-created_at", "ix_tasks_live_created"), ("-priority", "ix_tasks_live_priority")],
)
def test_a_deep_page_by_cursor_costs_what_the_first_costs(
    app: Flask, big_owner: str, sort: str, index: str
) -> None:
    args: dict[str, Any] = {"per_page": PER_PAGE, "sort": sort}
    # Page 499 by offset, then page 500 by the cursor its `next` link carries.
    *_, page = list_query(app, big_owner, {**args, "page": 499})
    assert page.next_cursor
    statement, page = list_query(app, big_owner, {**args, "cursor": page.next_cursor})
    assert page.page == 500
    assert len(page.items) == PER_PAGE
    assert_index_page(explain(app, statement), index)


SEARCH_INDEXES = ("ix_tasks_owner_title_trgm", "ix_tasks_owner_description_trgm")


def test_search_indexes_keep_a_small_pending_list(app: Flask) -> None:
    """New trigram entries wait in a pending list of at most 256 kB, which every search
    reads through until it is merged into the index."""
    with app.app_context():
        options = dict(
            db.session.execute(
                text("SELECT relname, reloptions FROM pg_class WHERE relname IN :names"),
                {"names": SEARCH_INDEXES},
            ).all()
        )
    assert options == {index: ["gin_pending_list_limit=256"] for index in SEARCH_INDEXES}


@pytest.mark.parametrize(
    ("q", "page_indexes"),
    [
        # A common word (one task in twenty): newest first until a page has matched.
        ("report", {"ix_tasks_live_created"}),
        # A word no task has: the owner's matches from the trigram indexes, none.
        ("zebra", set(SEARCH_INDEXES)),
    ],
)
def test_a_search_reads_only_the_owners_tasks(
    app: Flask, big_owner: str, q: str, page_indexes: set[str]
) -> None:
    """The page and its count (up to 1 000 matches) read the owner's rows by index only,
    never another account's: the owner's column leads every index they use."""
    statements, _ = sent(app, big_owner, {"q": q, "per_page": PER_PAGE})
    (page,) = [s for s in statements if "count(" not in s]
    (counted,) = [s for s in statements if "count(" in s]
    for statement, indexes in ((page, page_indexes), (counted, set(SEARCH_INDEXES))):
        plan = explain(app, statement)
        scans = [
            n for n in nodes(plan) if "Index Name" in n and n["Index Name"].startswith("ix_tasks")
        ]
        assert {n["Index Name"] for n in scans} == indexes, json.dumps(plan, indent=1)
        for scan in scans:
            assert "owner_id" in scan["Index Cond"], json.dumps(plan, indent=1)
        assert all(n["Node Type"] != "Seq Scan" for n in nodes(plan)), json.dumps(plan, indent=1)


@pytest.fixture(scope="module")
def rare_tag(app: Flask, big_owner: str) -> str:
    """A tag on five of the owner's tasks (the seed's tags are each on about one in ten)."""
    with app.app_context():
        owner_id = accounts.user_by_email(big_owner).id
        db.session.execute(
            text("INSERT INTO tags (owner_id, name) VALUES (:owner, 'rare')"), {"owner": owner_id}
        )
        db.session.execute(
            text(
                "INSERT INTO task_tags (task_id, tag_id) SELECT t.id, (SELECT id FROM tags "
                "WHERE owner_id = :owner AND name = 'rare') FROM tasks t "
                "WHERE t.owner_id = :owner ORDER BY t.id LIMIT 5"
            ),
            {"owner": owner_id},
        )
        db.session.execute(text("ANALYZE task_tags"))
        db.session.commit()
    return "rare"


@pytest.mark.parametrize("sort", ["-created_at", "-priority"])
def test_a_tag_page_walks_the_list_index_or_reads_the_tags_links(
    app: Flask, big_owner: str, rare_tag: str, sort: str
) -> None:
    """A common tag (one task in ten): the page walks the list's index newest first and
    stops once a page has matched, each task's link looked up by primary key. A rare tag:
    its links from the tag's index, their tasks by primary key, a sort of that handful.
    The tag's id is looked up first, so that the planner knows which tag it is; either way
    nothing reads the owner's tasks beyond a few hundred, and the count (up to 1 000)
    reads indexes only."""
    index = {"-created_at": "ix_tasks_live_created", "-priority": "ix_tasks_live_priority"}
    statements, page = sent(app, big_owner, {"tag": "work", "sort": sort, "per_page": PER_PAGE})
    assert len(page.items) == PER_PAGE
    page_plan, count_plan = (explain(app, statement) for statement in statements)
    walked = [n for n in nodes(page_plan) if n.get("Relation Name") == "tasks"]
    assert [n["Index Name"] for n in walked] == [index[sort]], json.dumps(page_plan, indent=1)
    assert walked[0]["Actual Rows"] <= 50 * PER_PAGE, json.dumps(page_plan, indent=1)

    statements, page = sent(app, big_owner, {"tag": rare_tag, "sort": sort})
    assert len(page.items) == 5
    page_plan, count_plan_rare = (explain(app, statement) for statement in statements)
    scans = {n.get("Index Name") for n in nodes(page_plan) if "Index Name" in n}
    assert {"ix_task_tags_tag_id_task_id", "pk_tasks"} <= scans, json.dumps(page_plan, indent=1)
    for node in nodes(page_plan):
        assert node["Actual Rows"] <= PER_PAGE, json.dumps(page_plan, indent=1)
    for plan in (page_plan, count_plan, count_plan_rare):
        assert all(n["Node Type"] != "Seq Scan" for n in nodes(plan)), json.dumps(plan, indent=1)


def test_a_tag_the_owner_does_not_have_reads_no_tasks(app: Flask, big_owner: str) -> None:
    statements, page = sent(app, big_owner, {"tag": "no-such-tag"})
    assert statements == []
    assert (list(page.items), page.total) == ([], 0)
