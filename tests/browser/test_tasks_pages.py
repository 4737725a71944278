"""The task pages in a real browser (SPEC §5): the list (search, filters, sort, pages, the
inline toggle, bulk actions, empty states), new, detail, edit (a stale form refused with both
versions shown), delete with confirmation, the trash with restore."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    PageLog,
    api,
    expect_field_error,
    make_tasks,
    sign_up,
    submit_refused,
)

MARK_PAGE = "() => { window.__marker = 1; }"
PAGE_IS_THE_SAME = "() => window.__marker === 1"


def rows(page: Page) -> Locator:
    return page.locator("table.tasks tbody tr")


def titles(page: Page) -> list[str]:
    return rows(page).locator(".title-cell > a").all_inner_texts()


def query_of(page: Page) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(page.url).query))


def api_titles(page: Page, query: dict[str, str]) -> list[str]:
    response = api(page, "GET", "/api/tasks?" + urlencode(query))
    assert response.ok, response.text()
    return [task["title"] for task in response.json()["items"]]


def open_filters(page: Page) -> Locator:
    filters = page.locator("details.filters")
    if filters.get_attribute("open") is None:
        page.get_by_text("Search, filter and sort").click()
    return page.get_by_role("form", name="Search and filter tasks")


# --- new, detail, edit --------------------------------------------------------------------


def test_new_task_with_every_field_shows_on_its_page(page: Page, page_log: PageLog) -> None:
    sign_up(page)
    page.get_by_role("button", name="New task").click()
    expect(page).to_have_url(re.compile(r"/tasks/new$"))
    page.get_by_label("Title").fill("Write the quarterly report")
    page.get_by_label("Description").fill("Figures from finance.\nThen the summary.")
    page.get_by_label("Priority").select_option(label="5 · Highest")
    page.get_by_label("Status").select_option(label="In progress")
    page.get_by_label("Due (UTC)").fill("2031-05-04T09:30")
    page.get_by_label("Tags").fill("Work, reports")
    page.get_by_role("button", name="Create task").click()

    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.get_by_role("status")).to_have_text("Task “Write the quarterly report” created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Write the quarterly report")
    expect(page.locator(".description")).to_have_text("Figures from finance.\nThen the summary.")
    expect(page.locator("#task-status")).to_have_text("in progress")
    expect(page.locator(".task-detail .priority")).to_have_text("Highest")
    fields = page.locator("dl.fields")
    expect(fields.locator("dt:has-text('Due') + dd")).to_have_text("4 May 2031, 09:30 UTC")
    expect(fields.locator("dt:has-text('Due') + dd time")).to_have_attribute(
        "datetime", "2031-05-04T09:30:00+00:00"
    )
    expect(fields.get_by_role("link")).to_have_text(["reports", "work"])  # sorted, lower-case
    expect(fields.locator("dt:has-text('Completed') + dd")).to_have_text("—")
    expect(fields.locator("dt:has-text('Changed') + dd")).to_contain_text("(version 1)")
    expect(page.get_by_role("heading", name="Processing")).to_be_visible()
    expect(page.get_by_text("Not processed yet.")).to_be_visible()
    log = page.get_by_role("region", name="History").get_by_role("listitem")
    expect(log).to_have_count(1)
    expect(log.first).to_contain_text("created")

    # A tag leads to the list filtered by it, with the API's parameter.
    fields.get_by_role("link", name="work").click()
    expect(page).to_have_url(re.compile(r"/tasks\?tag=work$"))
    assert titles(page) == ["Write the quarterly report"]
    assert page_log.console_errors == []
    assert page_log.csp_violations == []


def test_form_errors_sit_next_to_their_fields_and_keep_the_values(page: Page) -> None:
    sign_up(page)
    page.goto("/tasks/new")
    page.get_by_label("Title").fill("   ")  # passes `required`, but blank
    page.get_by_label("Description").fill("Kept, as typed.")
    page.get_by_label("Priority").select_option("4")
    page.get_by_label("Tags").fill("fine, " + "x" * 51)
    submit_refused(page, "Create task", r"/tasks/new$")

    title = page.get_by_label("Title")
    expect_field_error(title, "Must not be blank.")
    tags = page.get_by_label("Tags")
    expect_field_error(tags, "Tag 2: Length must be between 1 and 50.")
    expect(tags).to_have_value("fine, " + "x" * 51)
    expect(page.get_by_label("Description")).to_have_value("Kept, as typed.")
    expect(page.get_by_label("Description")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Priority")).to_have_value("4")

    # Corrected, it goes through.
    title.fill("Now with a title")
    tags.fill("fine")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Now with a title")
    expect(page.locator(".task-detail .priority")).to_have_text("High")


def test_edit_saves_with_the_version_it_was_opened_at(page: Page) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Draft", description="First words\nSecond line", tags=["a"])
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("button", name="Edit").click()
    expect(page).to_have_url(re.compile(rf"/tasks/{task['id']}/edit$"))
    expect(page.locator('input[name="version"]')).to_have_value("1")
    expect(page.get_by_label("Title")).to_have_value("Draft")
    expect(page.get_by_label("Tags")).to_have_value("a")
    page.get_by_label("Title").fill("Final")
    page.get_by_label("Tags").fill("a, b")
    page.get_by_role("button", name="Save changes").click()

    expect(page).to_have_url(re.compile(rf"/tasks/{task['id']}$"))
    expect(page.get_by_role("status")).to_have_text("Changes saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Final")
    expect(page.locator("dl.fields").get_by_role("link")).to_have_text(["a", "b"])
    saved = api(page, "GET", task["url"]).json()
    # The untouched description comes back exactly (the browser sent its line break as CRLF).
    assert (saved["title"], saved["description"], saved["tags"]) == (
        "Final",
        "First words\nSecond line",
        ["a", "b"],
    )
    assert saved["version"] > 1
    expect(page.locator("dl.fields")).to_contain_text(f"(version {saved['version']})")
    history = page.get_by_role("region", name="History").get_by_role("listitem")
    expect(history.last).to_contain_text("Changed title, tags.")


def test_a_stale_edit_is_refused_with_both_versions_shown(page: Page) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Plan the trip", priority=2)
    page.goto(f"/tasks/{task['id']}/edit")
    # Meanwhile, another client changes the task.
    changed = api(page, "PATCH", task["url"], data={"title": "Plan the trip to Lisbon"})
    assert changed.ok, changed.text()

    page.get_by_label("Title").fill("Plan the trip to Porto")
    page.get_by_label("Priority").select_option("4")
    with page.expect_response(re.compile(r"/edit$")) as answer:
        page.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 409

    conflict = page.get_by_role("alert").filter(has_text="This task changed since you opened it")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("Nothing was saved.")
    table = conflict.get_by_role("table")
    expect(table.get_by_role("columnheader")).to_have_text(
        ["Field", "Your version", "Current version"]
    )
    title_row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Title"))
    expect(title_row.get_by_role("cell")).to_have_text(
        ["Plan the trip to Porto", "Plan the trip to Lisbon"]
    )
    priority_row = table.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="Priority")
    )
    expect(priority_row.get_by_role("cell")).to_have_text(["4", "2"])
    # The form still holds the user's version; nothing was overwritten.
    expect(page.get_by_label("Title")).to_have_value("Plan the trip to Porto")
    expect(page.get_by_label("Priority")).to_have_value("4")
    assert api(page, "GET", task["url"]).json()["title"] == "Plan the trip to Lisbon"
    # Saving again, knowingly, replaces the current version (the form now carries it).
    expect(page.locator('input[name="version"]')).to_have_value("2")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Changes saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Plan the trip to Porto")


# --- delete, trash, restore ---------------------------------------------------------------


def test_delete_asks_first_then_the_trash_restores(page: Page) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Old idea")
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(rf"/tasks/{task['id']}/delete$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Move “Old idea” to the trash?")
    page.get_by_role("button", name="Keep it").click()
    expect(page).to_have_url(re.compile(rf"/tasks/{task['id']}$"))
    assert api(page, "GET", task["url"]).json()["deleted_at"] is None

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Move to trash").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.get_by_role("status")).to_have_text(
        "“Old idea” moved to the trash. You can restore it from there."
    )
    expect(page.get_by_role("heading", name="No tasks yet")).to_be_visible()

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Trash").click()
    expect(page).to_have_url(re.compile(r"/tasks\?deleted=only$"))
    expect(nav.get_by_role("link", name="Trash")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Trash")
    assert titles(page) == ["Old idea"]
    # A trashed task's page says so, and offers only to restore it.
    page.get_by_role("link", name="Old idea").click()
    expect(page.get_by_text("in the trash")).to_be_visible()
    expect(page.get_by_role("button", name="Process")).to_have_count(0)
    page.go_back()

    page.get_by_role("button", name="Restore").click()
    expect(page).to_have_url(re.compile(r"/tasks\?deleted=only$"))
    expect(page.get_by_role("status")).to_have_text("“Old idea” restored.")
    expect(page.get_by_role("heading", name="The trash is empty")).to_be_visible()
    nav.get_by_role("link", name="Tasks").click()
    assert titles(page) == ["Old idea"]


# --- the list -----------------------------------------------------------------------------


def test_empty_states_say_what_to_do(page: Page) -> None:
    sign_up(page)
    empty = page.get_by_role("region", name="No tasks yet")
    expect(empty).to_contain_text("Write down the first thing you need to do")
    empty.get_by_role("link", name="create a task").click()
    expect(page).to_have_url(re.compile(r"/tasks/new$"))

    make_tasks(page, title="Something")
    page.goto("/tasks?q=nothing-like-it")
    no_match = page.get_by_role("region", name="No tasks match")
    expect(no_match).to_be_visible()
    no_match.get_by_role("link", name="Clear the filters").click()
    assert titles(page) == ["Something"]

    page.goto("/tasks?deleted=only")
    expect(page.get_by_role("region", name="The trash is empty")).to_contain_text(
        "Tasks you delete come here"
    )


def make_mixed_tasks(page: Page) -> None:
    for fields in [
        {"title": "Alpha report", "priority": 5, "tags": ["work"],
         "due_at": "2030-01-10T12:00:00Z"},
        {"title": "Beta report", "priority": 2, "tags": ["home"], "status": "completed"},
        {"title": "Gamma chores", "priority": 4, "tags": ["home", "work"],
         "due_at": "2020-01-01T08:00:00Z"},
        {"title": "Delta idea", "priority": 1, "status": "failed", "description": "A report?"},
    ]:  # fmt: skip
        make_tasks(page, **fields)


def test_search_filters_and_sort_make_a_shareable_url(page: Page) -> None:
    sign_up(page)
    make_mixed_tasks(page)
    page.goto("/tasks")
    assert titles(page) == ["Delta idea", "Gamma chores", "Beta report", "Alpha report"]
    expect(page.locator("details.filters")).not_to_have_attribute("open", "")

    form = open_filters(page)
    form.get_by_label("Search").fill("report")
    form.get_by_role("button", name="Apply").click()
    assert query_of(page)["q"] == "report"
    assert titles(page) == ["Delta idea", "Beta report", "Alpha report"]  # description too
    expect(page.locator("details.filters")).to_have_attribute("open", "")

    form = open_filters(page)
    expect(form.get_by_label("Search")).to_have_value("report")  # the form shows the view
    form.get_by_label("Status").select_option("completed")
    form.get_by_role("button", name="Apply").click()
    assert {"q": "report", "status": "completed"}.items() <= query_of(page).items()
    assert titles(page) == ["Beta report"]

    # Each view is a URL with the API's query names: the API lists the same tasks, in order.
    views = [
        ({"tag": "work", "sort": "title"}, ["Alpha report", "Gamma chores"]),
        ({"priority": "4"}, ["Gamma chores"]),
        ({"overdue": "true"}, ["Gamma chores"]),
        ({"due_after": "2029-12-31", "due_before": "2030-02-01"}, ["Alpha report"]),
        ({"sort": "-priority,due_at"},
         ["Alpha report", "Gamma chores", "Beta report", "Delta idea"]),
        ({"status": "failed,completed", "sort": "title"}, ["Beta report", "Delta idea"]),
    ]  # fmt: skip
    for query, expected in views:
        page.goto("/tasks?" + urlencode(query))
        assert titles(page) == expected, query
        assert api_titles(page, query) == expected, query

    # The filter form reflects the URL it was opened at, and applies the same way.
    page.goto("/tasks?tag=work&sort=title")
    form = page.get_by_role("form", name="Search and filter tasks")
    expect(form.get_by_label("Tag")).to_have_value("work")
    expect(form.get_by_label("Sort")).to_have_value("title")
    form.get_by_label("Overdue only").check()
    form.get_by_role("button", name="Apply").click()
    assert {"tag": "work", "sort": "title", "overdue": "true"}.items() <= query_of(page).items()
    assert titles(page) == ["Gamma chores"]
    form.get_by_role("button", name="Reset").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    assert len(titles(page)) == 4


def test_a_bad_query_says_what_is_wrong(page: Page) -> None:
    sign_up(page)
    response = page.goto("/tasks?sort=colour")
    assert response is not None
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("sort")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")


def test_pages_follow_the_per_page_choice(page: Page) -> None:
    sign_up(page)
    make_tasks(page, 23, title="Item {i}")
    page.goto("/tasks?sort=title")
    form = open_filters(page)
    form.get_by_label("Per page").select_option("10")
    form.get_by_role("button", name="Apply").click()
    assert {"per_page": "10", "sort": "title"}.items() <= query_of(page).items()

    pager = page.get_by_role("navigation", name="Pages")
    expect(pager).to_contain_text("Page 1 of 3 · 23 tasks")
    expect(rows(page)).to_have_count(10)
    expect(pager.get_by_text("Previous")).to_have_attribute("aria-disabled", "true")
    first_page = titles(page)
    assert first_page == sorted(first_page)

    pager.get_by_role("link", name="Next").click()
    expect(pager).to_contain_text("Page 2 of 3 · 23 tasks")
    assert {"per_page": "10", "sort": "title"}.items() <= query_of(page).items()
    expect(rows(page)).to_have_count(10)
    second_page = titles(page)
    assert first_page[-1] < second_page[0]

    pager.get_by_role("link", name="Last").click()
    expect(pager).to_contain_text("Page 3 of 3 · 23 tasks")
    expect(rows(page)).to_have_count(3)
    expect(pager.get_by_text("Next")).to_have_attribute("aria-disabled", "true")
    pager.get_by_role("link", name="Previous").click()
    expect(pager).to_contain_text("Page 2 of 3")
    assert titles(page) == second_page
    pager.get_by_role("link", name="First").click()
    assert titles(page) == first_page


def test_the_complete_toggle_changes_the_row_in_place(page: Page, page_log: PageLog) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Water the plants")
    page.goto("/tasks")
    page.evaluate(MARK_PAGE)
    row = page.locator(f"#task-{task['id']}")

    row.get_by_role("button", name="Complete “Water the plants”").click()
    toggle = row.get_by_role("button", name="Reopen “Water the plants”")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(row.locator(".badge")).to_have_text("completed")
    expect(row).to_have_class(re.compile(r"\bis-done\b"))
    assert page.evaluate(PAGE_IS_THE_SAME), "the page was reloaded"
    assert api(page, "GET", task["url"]).json()["completed"] is True

    toggle.click()
    expect(row.get_by_role("button", name="Complete “Water the plants”")).to_have_attribute(
        "aria-pressed", "false"
    )
    expect(row.locator(".badge")).to_have_text("pending")
    assert page.evaluate(PAGE_IS_THE_SAME), "the page was reloaded"
    page.reload()
    expect(row.locator(".badge")).to_have_text("pending")
    assert page_log.console_errors == []
    assert page_log.page_errors == []


def test_several_tasks_are_completed_or_trashed_at_once(page: Page) -> None:
    sign_up(page)
    make_tasks(page, 4, title="Chore {i}")
    page.goto("/tasks?sort=title")

    page.get_by_role("button", name="Complete selected").click()
    expect(page.get_by_role("status")).to_have_text("Select at least one task first.")

    page.get_by_label("Select “Chore 1”").check()
    page.get_by_label("Select “Chore 3”").check()
    page.get_by_role("button", name="Complete selected").click()
    expect(page.get_by_role("status")).to_have_text("Completed 2 tasks.")
    assert {"sort": "title"}.items() <= query_of(page).items()  # back to the same view
    expect(rows(page).locator(".badge")).to_have_text(
        ["completed", "pending", "completed", "pending"]
    )

    page.get_by_label("Select all").check()  # shown by app.js
    expect(page.get_by_role("checkbox", name=re.compile("Select “Chore"))).to_have_count(4)
    for box in page.get_by_role("checkbox", name=re.compile("Select “Chore")).all():
        expect(box).to_be_checked()
    page.get_by_role("button", name="Move selected to trash").click()
    expect(page.get_by_role("status")).to_have_text("Moved 4 tasks to the trash.")
    expect(page.get_by_role("heading", name="No tasks yet")).to_be_visible()
    page.goto("/tasks?deleted=only&sort=title")
    assert titles(page) == ["Chore 1", "Chore 2", "Chore 3", "Chore 4"]


# --- without JavaScript -------------------------------------------------------------------


def test_the_list_works_without_javascript(page_without_js: Page) -> None:
    page = page_without_js
    sign_up(page)
    page.get_by_role("button", name="New task").click()
    page.get_by_label("Title").fill("No script needed")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("status")).to_have_text("Task “No script needed” created.")
    make_tasks(page, title="Another")

    page.goto("/tasks")
    expect(page.get_by_label("Select all")).to_be_hidden()  # it needs the script
    # The toggle is a plain form: POST, 303 back to the list, the new state on the page.
    page.get_by_role("button", name="Complete “No script needed”").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.get_by_role("status")).to_have_text("“No script needed” completed.")
    expect(page.get_by_role("button", name="Reopen “No script needed”")).to_have_attribute(
        "aria-pressed", "true"
    )
    # The filters open without script (a <details>), and GET a URL.
    page.get_by_text("Search, filter and sort").click()
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Apply").click()
    assert query_of(page)["status"] == "completed"
    assert titles(page) == ["No script needed"]
    # Bulk actions are a plain form too.
    page.goto("/tasks")
    page.get_by_label("Select “Another”").check()
    page.get_by_role("button", name="Move selected to trash").click()
    expect(page.get_by_role("status")).to_have_text("Moved 1 task to the trash.")
    assert titles(page) == ["No script needed"]
