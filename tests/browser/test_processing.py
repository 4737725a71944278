"""Processing from the task's page with a real `flask worker` (SPEC §5, §7): the process and
cancel buttons; while a job runs its progress bar and state follow by themselves (htmx polls
the job's row, and stops once the job has ended), and the task's card and history are
redrawn when the job changes state, without reloading the page; with JavaScript off the
same page works by reloading."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import PageLog, api, make_tasks, sign_up
from tests.jobs.conftest import WorkerProcess

# The worker takes 5 steps of 0.4 s; a generous bound for a job to end, start-up included.
JOB_MS = 20_000
MARK_PAGE = "() => { window.__marker = 1; }"
PAGE_IS_THE_SAME = "() => window.__marker === 1"


def test_the_progress_bar_reaches_100_by_itself(
    page: Page, page_log: PageLog, live_worker: WorkerProcess
) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Crunch the numbers")
    page.goto(f"/tasks/{task['id']}")
    expect(page.get_by_text("Not processed yet.")).to_be_visible()
    expect(page.locator("#task-status")).to_have_text("pending")

    page.get_by_role("button", name="Process").click()
    expect(page).to_have_url(re.compile(rf"/tasks/{task['id']}#jobs$"))
    expect(page.get_by_role("status")).to_have_text("Processing queued.")
    # While the job is active there is a Cancel button and no second Process button.
    expect(page.get_by_role("button", name="Process")).to_be_hidden()
    jobs = page.get_by_role("region", name="Processing")
    expect(jobs.get_by_role("button", name="Cancel")).to_be_visible()
    page.evaluate(MARK_PAGE)

    polls: list[str] = []

    def on_request(request: Request) -> None:
        if "/panel" in request.url:
            polls.append(request.url)

    page.on("request", on_request)
    # A keyboard user sits on a control of the task's card, which is redrawn under them.
    page.get_by_role("button", name="Mark completed").focus()
    bar = jobs.get_by_role("progressbar")
    seen = set()
    deadline = time.monotonic() + JOB_MS / 1000
    while bar.get_attribute("value") != "100" and time.monotonic() < deadline:
        seen.add(int(bar.get_attribute("value") or 0))
        page.wait_for_timeout(100)

    expect(bar).to_have_attribute("value", "100")
    expect(jobs.locator(".progress-value")).to_have_text("100 %")
    expect(jobs.locator(".badge")).to_have_text("succeeded")
    expect(jobs).to_contain_text("Processed 'Crunch the numbers' in 5 steps.")
    expect(jobs.get_by_role("button", name="Cancel")).to_have_count(0)
    # The task's card and history follow the job: its status, its new version, the whole
    # story, and Process offered again, all without reloading.
    expect(page.locator("#task-status")).to_have_text("completed")
    expect(page.get_by_role("button", name="Process")).to_be_visible()
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    expect(page.get_by_role("button", name="Reopen")).to_be_focused()  # the focus stayed
    # The live region said so.
    expect(page.get_by_role("status")).to_have_text("Processing succeeded.")
    history = page.get_by_role("region", name="History")
    expect(history).to_contain_text("Processing started (attempt 1 of 3).")
    expect(history).to_contain_text("Step 5 of 5 done.")
    expect(history).to_contain_text("Processing succeeded")
    version = api(page, "GET", task["url"]).json()["version"]
    expect(page.locator("#task-card")).to_contain_text(f"(version {version})")
    assert page.evaluate(PAGE_IS_THE_SAME), "the page was reloaded"
    assert seen & set(range(1, 100)), seen  # it was seen moving, not only at its ends
    assert polls, "htmx never asked for the job's row"

    # Once the job has ended its row stops asking.
    count = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == count, polls[count:]
    assert jobs.get_by_role("row").nth(1).get_attribute("hx-get") is None
    assert page_log.console_errors == []
    assert page_log.page_errors == []
    assert page_log.csp_violations == []

    # A reload shows the same.
    page.reload()
    expect(page.get_by_role("region", name="History")).to_contain_text("Step 5 of 5 done.")
    expect(page.get_by_role("button", name="Process")).to_be_visible()


def test_cancel_stops_a_job(page: Page, live_worker: WorkerProcess) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Never mind")
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("button", name="Process").click()
    jobs = page.get_by_role("region", name="Processing")
    # Queued or running (the job takes 2 s): either way Cancel stops it.
    jobs.get_by_role("button", name="Cancel").click()

    expect(page).to_have_url(re.compile(rf"/tasks/{task['id']}#jobs$"))
    expect(page.get_by_role("status")).to_have_text("Processing cancelled.")
    expect(jobs.locator(".badge")).to_have_text("cancelled")
    expect(jobs.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.get_by_role("button", name="Process")).to_be_visible()
    expect(page.get_by_role("region", name="History")).to_contain_text("Processing cancelled.")
    # It stays cancelled: the worker does not finish it behind the page's back.
    page.wait_for_timeout(2500)
    page.reload()
    expect(jobs.locator(".badge")).to_have_text("cancelled")
    expect(page.locator("#task-status")).to_have_text("pending")
    assert api(page, "GET", task["url"]).json()["status"] == "pending"


def test_processing_twice_at_once_is_refused(page: Page, live_worker: WorkerProcess) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Only once")
    page.goto(f"/tasks/{task['id']}")
    # Another client starts it after this page was drawn (its Process button is stale).
    started = api(page, "POST", f"{task['url']}/process")
    assert started.status == 202, started.text()
    page.get_by_role("button", name="Process").click()
    expect(page.get_by_role("status")).to_contain_text("already")
    expect(page.get_by_role("status").locator(".flash-error")).to_be_visible()
    expect(page.get_by_role("region", name="Processing").get_by_role("row")).to_have_count(2)
    api(page, "POST", f"/api/jobs/{started.json()['id']}/cancel")


def test_processing_works_without_javascript(
    page_without_js: Page, live_worker: WorkerProcess
) -> None:
    page = page_without_js
    sign_up(page)
    (task,) = make_tasks(page, title="By hand")
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("button", name="Process").click()
    expect(page.get_by_role("status")).to_have_text("Processing queued.")
    jobs = page.get_by_role("region", name="Processing")
    expect(jobs.locator(".badge")).to_have_text(re.compile(r"^(queued|running)$"))

    # Without htmx nothing polls: the user reloads to see it move on.
    deadline = time.monotonic() + JOB_MS / 1000
    while jobs.locator(".badge").inner_text() != "succeeded" and time.monotonic() < deadline:
        page.wait_for_timeout(400)
        page.reload()
    expect(jobs.locator(".badge")).to_have_text("succeeded")
    expect(jobs.get_by_role("progressbar")).to_have_attribute("value", "100")
    expect(jobs.locator(".progress-value")).to_have_text("100 %")
    expect(page.locator("#task-status")).to_have_text("completed")

    # Cancel is a plain form as well.
    page.get_by_role("button", name="Process").click()
    jobs.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_have_text("Processing cancelled.")
    expect(jobs.locator(".badge").first).to_have_text("cancelled")
