"""Error pages in a real browser (SPEC §5, §6): styled HTML pages in the site's layout for 404,
405 and a refused CSRF token, never JSON; a form POST without its token changes nothing."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import api, make_tasks, sign_up


def expect_error_page(page: Page, status: int, title: str) -> None:
    """The site's layout (stylesheet, navigation, main landmark) around the error."""
    expect(page).to_have_title(f"{status} {title} · Task Tracker")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{status} · {title}")
    expect(page.get_by_role("main")).to_be_visible()
    back = page.get_by_text("Back to Task Tracker")  # a link, drawn as a button (Pico)
    expect(back).to_have_attribute("href", "/")
    # Styled: Pico and the app's sheet apply (the link is a filled button, not underlined).
    assert page.locator('link[rel="stylesheet"][href$="/css/app.css"]').count() == 1
    assert back.evaluate("e => getComputedStyle(e).textDecorationLine") == "none"


def test_unknown_pages_are_a_styled_404(page: Page) -> None:
    response = page.goto("/nope")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect_error_page(page, 404, "Not Found")

    sign_up(page)
    response = page.goto("/tasks/999999")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect_error_page(page, 404, "Not Found")
    expect(page.get_by_role("main")).to_contain_text("No such")
    page.get_by_text("Back to Task Tracker").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))


def test_a_wrong_method_is_a_styled_405(page: Page) -> None:
    response = page.goto("/signout")
    assert response is not None
    assert response.status == 405
    assert response.headers["content-type"].startswith("text/html")
    assert "POST" in response.headers["allow"]
    expect_error_page(page, 405, "Method Not Allowed")


def test_a_form_without_its_csrf_token_is_refused(page: Page) -> None:
    sign_up(page)
    page.goto("/tasks/new")
    page.get_by_label("Title").fill("Forged")
    page.evaluate("() => document.querySelector('main form input[name=csrf_token]').remove()")
    with page.expect_response(re.compile(r"/tasks/new$")) as answer:
        page.get_by_role("button", name="Create task").click()
    assert answer.value.status == 400
    assert answer.value.headers["content-type"].startswith("text/html")
    expect_error_page(page, 400, "Bad Request")
    expect(page.get_by_role("main")).to_contain_text(
        "This form has expired or did not come from this site."
    )
    # Nothing was created.
    assert api(page, "GET", "/api/tasks?q=Forged").json()["total"] == 0


def test_a_post_from_elsewhere_without_a_token_is_refused(page: Page) -> None:
    sign_up(page)
    (task,) = make_tasks(page, title="Keep me")
    # What a forged cross-site form would send: the session cookie, but no token.
    response = page.request.post(f"/tasks/{task['id']}/delete", form={"confirm": "1"})
    assert response.status == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "did not come from this site" in response.text()
    assert api(page, "GET", task["url"]).json()["deleted_at"] is None
