"""Accessibility and layout in a real browser (SPEC §5): axe-core finds no serious or critical
violation on the main pages; the skip link comes first; the pages fit a phone (375 px) and a
desktop (1280 px) without scrolling sideways."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageLog, api, axe, make_tasks, sign_up

WIDTHS = [375, 1280]
HORIZONTAL_OVERFLOW = """() => {
  const page = document.documentElement;
  // What sticks out of the window, besides what a scrolling table wrapper clips and the
  // skip link (parked off-screen to the left until it has the focus).
  const tooWide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1
                   && !e.closest(".table-wrap, .skip-link"))
    .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                + (e.className && typeof e.className === "string" ? "." + e.className : ""));
  // Tables scroll inside their wrapper on a desktop; on a phone they must not need to.
  const scrollingWrappers = [...document.querySelectorAll(".table-wrap")]
    .filter((e) => e.scrollWidth > e.clientWidth + 1).length;
  return {scrollWidth: page.scrollWidth, innerWidth: window.innerWidth,
          tooWide: tooWide.slice(0, 10), scrollingWrappers};
}"""


def a_busy_account(page: Page) -> dict:
    """An account with a processed task with tags, a few more tasks and a token."""
    sign_up(page)
    (task,) = make_tasks(
        page,
        title="Prepare the annual general meeting of the association's members",
        description="Book the room, send the invitations, print the agenda.\n" * 3,
        priority=5,
        tags=["association", "meetings", "paperwork"],
        due_at="2031-03-01T18:00:00Z",
    )
    make_tasks(page, 5, title="Routine chore number {i} with a rather long title", tags=["home"])
    api(page, "POST", f"{task['url']}/complete")
    return task


def layout_of(page: Page) -> dict:
    # A click that submits a form returns once the answer starts to arrive: the style sheets
    # may not be there yet, and an unstyled page is as wide as its widest table.
    page.wait_for_load_state("load")
    return page.evaluate(HORIZONTAL_OVERFLOW)


def assert_no_serious_violations(page: Page, what: str) -> None:
    violations = axe(page)
    assert violations == [], f"axe on {what}: {violations}"


def test_axe_finds_nothing_serious_on_the_main_pages(page: Page, page_log: PageLog) -> None:
    page.goto("/signin")
    assert_no_serious_violations(page, "sign-in")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_serious_violations(page, "sign-in with its error")

    task = a_busy_account(page)
    page.goto("/tasks")
    assert_no_serious_violations(page, "the task list")
    page.goto("/tasks?priority=1")
    assert_no_serious_violations(page, "the empty state")
    page.goto(f"/tasks/{task['id']}")
    assert_no_serious_violations(page, "the task's page")

    page.goto("/tasks/new")
    page.get_by_label("Title").fill(" ")
    page.get_by_label("Tags").fill("x" * 60)
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    assert_no_serious_violations(page, "the task form with errors")

    page.goto("/tokens")
    page.get_by_label("Name").fill("axe")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("textbox", name="New token")).to_be_visible()
    assert_no_serious_violations(page, "the tokens page with a new token")

    page.goto("/account")
    page.get_by_role("button", name="Change password").click()  # the browser's own check
    page.get_by_label("Current password").fill("not my password")
    page.locator("#new_password").fill("a new password")
    page.locator("#new_password_again").fill("a new password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    assert_no_serious_violations(page, "the account page with an error")
    assert page_log.page_errors == []


def test_the_skip_link_comes_first_and_leads_to_the_content(page: Page) -> None:
    sign_up(page)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/tasks#main$"))
    expect(page.get_by_role("main")).to_be_focused()
    for landmark in ("banner", "main", "contentinfo"):
        expect(page.get_by_role(landmark)).to_have_count(1)


def assert_fits(page: Page, what: str) -> None:
    layout = layout_of(page)
    width = layout["innerWidth"]
    assert layout["scrollWidth"] <= width, f"{what} at {width} px: {layout}"
    assert layout["tooWide"] == [], f"{what} at {width} px: {layout}"
    if width < 600:  # a phone: tables are cards there, never a strip to scroll sideways
        assert layout["scrollingWrappers"] == 0, f"{what} at {width} px: {layout}"


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_fit_the_screen_without_sideways_scrolling(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    task = a_busy_account(page)
    page.goto("/tokens")
    page.get_by_label("Name").fill("a token with a long enough name to wrap on a phone")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("textbox", name="New token")).to_be_visible()
    assert_fits(page, "the tokens page with a new token")
    for what, path in {
        "the task list": "/tasks",
        "the open filters": "/tasks?q=chore",
        "the task's page": f"/tasks/{task['id']}",
        "the new-task form": "/tasks/new",
        "the trash": "/tasks?deleted=only",
        "a 404 page": "/tasks/999999",
    }.items():
        page.goto(path)
        assert_fits(page, what)

    # The edit form, refused as stale: both versions side by side.
    page.goto(f"/tasks/{task['id']}/edit")
    api(page, "PATCH", task["url"], data={"title": "Changed elsewhere, at the same moment"})
    page.get_by_label("Title").fill("My own title for this task, a little longer")
    page.get_by_role("button", name="Save changes").click()
    expect(
        page.get_by_role("heading", name="This task changed since you opened it")
    ).to_be_visible()
    assert_fits(page, "the stale edit form")

    # Processing a task adds its job's row, with the progress bar.
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("button", name="Process").click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    assert_fits(page, "the task's page with a job")
    page.get_by_role("region", name="Processing").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_have_text("Processing cancelled.")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_fits(page, "the sign-in page")
