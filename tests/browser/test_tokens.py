"""The API tokens page in a real browser (SPEC §5, §8): a new token is shown once, with a
copy button; the list shows prefixes and last use, never a secret; revoking closes the API."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import PageLog, expect_field_error, sign_up, submit_refused


def test_a_token_is_shown_once_copied_used_and_revoked(page: Page, page_log: PageLog) -> None:
    sign_up(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(re.compile(r"/tokens$"))
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    page.get_by_label("Name").fill("laptop script")
    page.get_by_label("Expires").select_option(label="In 30 days")
    page.get_by_role("button", name="Create token").click()

    shown = page.get_by_role("alert").filter(has_text="Your new token “laptop script”")
    expect(shown).to_contain_text("Copy it now: it is shown only once.")
    secret = shown.get_by_label("New token").input_value()
    assert len(secret) >= 20
    shown.get_by_role("button", name="Copy").click()
    expect(shown.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret

    listed = page.get_by_role("row").filter(has_text="laptop script")
    expect(listed).to_have_count(1)
    prefix = listed.locator("code").inner_text().rstrip("…")
    assert prefix
    assert secret.startswith(prefix)
    assert len(prefix) < len(secret)
    expect(listed.locator('td[data-label="Last used"]')).to_have_text("never")
    expect(listed.locator('td[data-label="Expires"] time')).to_be_visible()

    # The secret opens the API...
    me = page.request.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status == 200, me.text()
    # ...and is never shown again: the list now has its last use, not the secret.
    page.goto("/tokens")
    expect(page.get_by_role("alert")).to_have_count(0)
    assert secret not in page.content()
    expect(listed.locator('td[data-label="Last used"] time')).to_be_visible()

    listed.get_by_role("button", name="Revoke “laptop script”").click()
    expect(page).to_have_url(re.compile(r"/tokens$"))
    expect(page.get_by_role("status")).to_have_text("Token revoked: it no longer opens the API.")
    expect(listed).to_have_count(0)
    expect(page.get_by_text("No tokens yet.")).to_be_visible()
    refused = page.request.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401
    assert page_log.console_errors == []
    assert page_log.csp_violations == []


def test_token_form_errors_sit_next_to_their_field(page: Page) -> None:
    sign_up(page)
    page.goto("/tokens")
    page.get_by_label("Name").fill("   ")
    page.get_by_label("Expires").select_option("90")
    submit_refused(page, "Create token", r"/tokens$")
    name = page.get_by_label("Name")
    expect_field_error(name, "Must not be blank.")
    expect(name).to_have_value("   ")
    expect(page.get_by_label("Expires")).to_have_value("90")
    expect(page.get_by_text("No tokens yet.")).to_be_visible()


def test_the_token_page_works_without_javascript(page_without_js: Page) -> None:
    page = page_without_js
    sign_up(page)
    page.goto("/tokens")
    page.get_by_label("Name").fill("cron job")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_role("alert").filter(has_text="Your new token “cron job”")
    # No script, no clipboard: the field is there to select and copy by hand.
    expect(shown.get_by_label("New token")).to_have_attribute("readonly", "")
    expect(shown.get_by_role("button", name="Copy")).to_be_hidden()
    page.get_by_role("button", name="Revoke “cron job”").click()
    expect(page.get_by_role("status")).to_have_text("Token revoked: it no longer opens the API.")
