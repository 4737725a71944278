"""Accounts in a real browser (SPEC §5): sign up, sign in, sign out (a POST), the way back to
the page asked for, errors next to their fields with what was typed kept, and a new
password that signs every other browser out."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    PASSWORD,
    PageLog,
    expect_field_error,
    sign_up,
    submit_refused,
    unique,
)


def test_sign_up_lands_signed_in_on_an_empty_list(page: Page, page_log: PageLog) -> None:
    sign_up(page, name="Grace Hopper")

    # The flash is announced: it sits in the page's polite live region.
    flashes = page.get_by_role("status")
    expect(flashes).to_have_attribute("aria-live", "polite")
    expect(flashes).to_have_text("Welcome, Grace Hopper! Your account is ready.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
    expect(page.get_by_role("heading", name="No tasks yet")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()
    expect(nav.get_by_role("link", name="Sign in")).to_have_count(0)
    assert page_log.console_errors == []
    assert page_log.page_errors == []
    assert page_log.csp_violations == []


def test_sign_up_errors_sit_next_to_their_fields_and_keep_what_was_typed(page: Page) -> None:
    taken, _ = sign_up(page)
    page.get_by_role("button", name="Sign out").click()

    page.goto("/signup")
    email = f"{unique('new')}@example.com"
    page.get_by_label("Name").fill("   ")  # passes `required`, but blank
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    submit_refused(page, "Sign up", r"/signup$")

    name = page.get_by_label("Name")
    expect_field_error(name, "Must not be blank.")
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password")).to_have_value("")  # a password never comes back

    # Name fixed, an email already taken: now the email is the field in error.
    name.fill("Grace")
    page.get_by_label("Email").fill(taken)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect_field_error(page.get_by_label("Email"), "An account with this email already exists.")
    expect(page.get_by_label("Email")).to_have_value(taken)
    expect(page.get_by_label("Name")).to_have_value("Grace")
    expect(page.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")
    # The password's hint is its description while it has no error.
    expect(page.get_by_label("Password")).to_have_accessible_description("At least 8 characters.")


def test_sign_in_refuses_a_wrong_password_then_signs_in(page: Page) -> None:
    email, password = sign_up(page)
    page.get_by_role("button", name="Sign out").click()

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    with page.expect_response(re.compile(r"/signin$")) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an account."
    )
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Password")).to_have_value("")

    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.get_by_role("status")).to_have_text(f"Signed in as {email}.")


def test_sign_in_goes_back_to_the_page_asked_for(page: Page) -> None:
    email, password = sign_up(page)
    page.get_by_role("button", name="Sign out").click()

    page.goto("/tokens")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Ftokens$"))
    expect(page.get_by_role("status")).to_have_text("Please sign in to see that page.")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/tokens$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")


def test_sign_out_is_a_post_that_ends_the_session(page: Page) -> None:
    sign_up(page)
    sign_out = page.get_by_role("button", name="Sign out")
    expect(sign_out.locator("xpath=ancestor::form")).to_have_attribute("method", "post")
    sign_out.click()

    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")
    ).to_have_attribute("aria-current", "page")
    page.goto("/tasks")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_a_new_password_signs_every_other_browser_out(
    browser: Browser, live_server: str, page: Page
) -> None:
    email, password = sign_up(page)
    other = browser.new_context(base_url=live_server).new_page()
    try:
        other.goto("/signin")
        other.get_by_label("Email").fill(email)
        other.get_by_label("Password").fill(password)
        other.get_by_role("button", name="Sign in").click()
        expect(other).to_have_url(re.compile(r"/tasks$"))

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Account")
        page.get_by_label("Current password").fill(password)
        page.locator("#new_password").fill("another good passphrase")
        page.locator("#new_password_again").fill("another good passphrase, typo")
        submit_refused(page, "Change password", r"/account/password$")
        expect_field_error(page.locator("#new_password_again"), "The two new passwords differ.")
        expect(page.get_by_label("Current password")).to_have_value("")  # never sent back

        page.get_by_label("Current password").fill(password)
        page.locator("#new_password").fill("another good passphrase")
        page.locator("#new_password_again").fill("another good passphrase")
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("status")).to_have_text(
            "Password changed. Every other browser is signed out."
        )
        page.goto("/tasks")
        expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")  # still signed in
        other.goto("/tasks")
        expect(other).to_have_url(re.compile(r"/signin\?next="))
    finally:
        other.context.close()
