"""The API documentation pages in a real browser (SPEC §4 "Operations", §8, §11): they render
from assets the app serves, under its Content-Security-Policy, without reaching any other host
(the page fixture fails a test whose page tries one it did not declare)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageLog

REDOC_CDN = "https://cdn.redoc.ly/*"
# Makes the page look hidden, as switching tabs does: ReDoc's OpenTelemetry exporter flushes
# at once then, instead of about 5 s later, so a telemetry request shows up within the test.
FAKE_PAGE_HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
  window.dispatchEvent(new Event("pagehide"));
}"""


def test_openapi_document_is_served(page: Page) -> None:
    response = page.request.get("/api/openapi.json")
    assert response.ok
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["info"]["title"] == "Task Tracker API"
    assert "post" in document["paths"]["/api/tasks"]


def test_swagger_ui_renders_the_operations(page: Page, page_log: PageLog) -> None:
    page.goto("/api/docs")

    expect(page.locator(".info .title")).to_contain_text("Task Tracker API")
    create = page.locator(".opblock-post").filter(
        has=page.locator('.opblock-summary-path[data-path="/api/tasks"]')
    )
    expect(create).to_be_visible()
    expect(create.locator(".opblock-summary-description")).to_have_text("Create a task")
    # Usable, not just painted: the operation opens and shows its request body.
    create.locator(".opblock-summary-control").click()
    expect(create.get_by_text("Request body", exact=True)).to_be_visible()
    expect(create.get_by_role("button", name="Try it out")).to_be_visible()

    assert page_log.csp_violations == []
    assert page_log.page_errors == []
    assert page_log.console_errors == []
    # And no off-host request (validatorUrl is off): checked by the page fixture.


@pytest.mark.allow_off_host(REDOC_CDN)
@pytest.mark.page_problems_expected
def test_redoc_renders_with_only_its_cdn_logo_blocked(page: Page, page_log: PageLog) -> None:
    page.goto("/api/redoc")

    expect(page.get_by_role("heading", name="Task Tracker API (1.0)")).to_be_visible()
    # The search works although the CSP refuses it a worker (it indexes on the page instead).
    restore = page.get_by_text("Restore a task from the trash")
    expect(restore).to_be_hidden()  # the sidebar's "tasks" group is still closed
    page.keyboard.press("Control+K")
    page.get_by_placeholder("Search docs...").fill("restore")
    expect(restore).to_be_visible()
    page.keyboard.press("Escape")
    expect(restore).to_be_hidden()
    # The sidebar opens a tag and goes to an operation.
    page.get_by_text("tasks", exact=True).first.click()
    page.get_by_text("Create a task", exact=True).click()
    expect(page.get_by_role("heading", name="Create a task")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/tasks/paths/~1api~1tasks/post$"))

    # Telemetry stays off (disable-telemetry on <redoc>): a hidden page would flush it now,
    # and the page fixture would fail the test on a request to otel.cloud.redocly.com.
    page.evaluate(FAKE_PAGE_HIDE)
    page.wait_for_timeout(1000)

    assert page_log.page_errors == []
    for request in page_log.off_host_requests:
        assert request.url.startswith("https://cdn.redoc.ly/redoc/logo-mini"), request
    violations = {(v["directive"], v["blocked_uri"]) for v in page_log.csp_violations}
    # The CDN logo (the <img> hides itself), and the search index's probe for a worker built
    # with Function(): without 'unsafe-eval' it indexes on the page instead.
    assert violations <= {
        ("img-src", "https://cdn.redoc.ly/redoc/logo-mini-full.svg"),
        ("img-src", "https://cdn.redoc.ly/redoc/logo-mini.svg"),
        ("script-src", "eval"),
    }, violations
    for violation in page_log.csp_violations_of("script-src"):
        assert violation["source_file"].endswith("/static/vendor/redoc/redoc.standalone.js")
    for message in page_log.console_errors:
        assert "cdn.redoc.ly" in message, message
