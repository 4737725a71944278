"""Browser tests: the real application under gunicorn, driven by Chromium through Playwright.

Fixtures (use them from any test under tests/browser):

- `live_server` (session): the base URL (``http://127.0.0.1:<port>``) of gunicorn serving
  `wsgi:app` in its own process, on a scratch PostgreSQL database of its own
  (``tasktracker_test_browser``, created and migrated at session start, dropped at the end,
  so it never meets the other tests' data) and TEST_REDIS_URL.
  Rate limits are off. Create data through the UI or the JSON API of that server.
- `browser` (session): Debian's Chromium (/usr/bin/chromium) via the plain
  `playwright.sync_api`; no browser is ever downloaded.
- `page` (function): a fresh context (cookies, storage) and page whose ``base_url`` is the
  live server, so ``page.goto("/api/docs")`` works. Every request is routed: the live server's
  host:port goes through, anything else is aborted and recorded. At teardown the test fails
  if an off-host request was attempted that the test did not declare.
- `page_log` (function): what the page did, for assertions (see `PageLog`): off-host
  attempts, console errors, uncaught page errors, Content-Security-Policy violations.

Declaring expected off-host requests (URL glob patterns, `fnmatch` syntax, full URL):

    @pytest.mark.allow_off_host("https://cdn.redoc.ly/*")
    def test_x(page, page_log): ...

or, inside the test, ``page_log.allow_off_host("https://cdn.example/*")``. A declared
request is still aborted (or blocked by the CSP): declaring it only stops the teardown check.

Good to know:
- Off-host attempts are seen in two places. The app's CSP (default-src 'self') stops most of
  them inside the renderer, before any network request exists, so the router never sees
  them: they are recorded from the page's `securitypolicyviolation` events (blocked_by="csp").
  What the CSP lets through (top-level navigations, for one) reaches the router and is
  aborted there (blocked_by="router"). WebSockets are not routed (the CSP's connect-src
  covers them).
- The CSP listener is an init script: `page.set_content()` (document.open) removes it, so
  on such pages refusals show only in `console_errors`.
- The server is a separate process: the in-process fixtures of tests/conftest.py (cheap
  password hashing, per-test rollback) do not reach it. Hashing costs production argon2
  (about 0.3 s) and data persists for the session: give each test its own user or task
  names. Make data through the server (``page.request.post("/api/users", data={...})``
  shares the context's cookies) or its UI.
- Playwright actions time out after 10 s here (default 30 s); `expect` keeps its 5 s.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import required_env, scratch_database
from tests.servers import app_env, gunicorn, migrate

CHROMIUM = Path("/usr/bin/chromium")
# Flags seen working as root on these machines (docs: /work/shared/LIBRARIES.md).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright waits 30 s by default for an action (click, goto); a page of this app that needs
# more than 10 s on localhost is broken, so fail sooner.
ACTION_TIMEOUT_MS = 10_000
# Reports every CSP violation of every frame to the test (a binding Playwright exposes).
CSP_LISTENER = """
window.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation({
    directive: event.effectiveDirective,
    blocked_uri: event.blockedURI,
    source_file: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    disposition: event.disposition,
  });
}, true);
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_off_host(*patterns): browser tests only; off-host requests whose URL matches one "
        "of these fnmatch patterns are expected (still blocked, but they don't fail the test)",
    )


# --- the application under gunicorn ------------------------------------------------------


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn serving the application on a free port; yields its base URL."""
    with scratch_database("tasktracker_test_browser") as database_url:
        env = app_env(database_url, required_env("TEST_REDIS_URL"))
        migrate(env)
        log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
        with gunicorn(env, log) as base_url:
            yield base_url


# --- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; never a downloaded browser."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium and never "
            "download one. Install it (Debian/Ubuntu: sudo apt-get install chromium); "
            "the CI script does.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class OffHostRequest:
    url: str
    # "router": aborted by the page fixture; "csp": the page's policy stopped it first.
    blocked_by: Literal["router", "csp"]
    resource_type: str = ""


@dataclass
class PageLog:
    """What a page did during a test. Lists fill in as events arrive, in order."""

    base_url: str
    allowed_off_host: list[str] = field(default_factory=list)
    off_host_requests: list[OffHostRequest] = field(default_factory=list)
    # console.error() calls and errors the browser logs (CSP refusals, failed loads).
    console_errors: list[str] = field(default_factory=list)
    # Uncaught exceptions in the page's scripts.
    page_errors: list[str] = field(default_factory=list)
    # One dict per `securitypolicyviolation` event: directive (the effective one, e.g.
    # "script-src-elem", "img-src"), blocked_uri ("inline", "eval" or a URL), source_file,
    # line, sample, disposition.
    csp_violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def is_on_host(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            return True  # data:, blob:, about: never leave the browser
        return parts.netloc == self.host

    def allow_off_host(self, *patterns: str) -> None:
        """Declare off-host requests as expected (fnmatch patterns on the full URL)."""
        self.allowed_off_host.extend(patterns)

    def is_allowed(self, url: str) -> bool:
        return any(fnmatch.fnmatchcase(url, pattern) for pattern in self.allowed_off_host)

    @property
    def unexpected_off_host(self) -> list[OffHostRequest]:
        return [request for request in self.off_host_requests if not self.is_allowed(request.url)]

    def csp_violations_of(self, directive_prefix: str) -> list[dict[str, Any]]:
        """Violations of one kind of directive, e.g. "script-src" (also -elem and -attr)."""
        return [v for v in self.csp_violations if v["directive"].startswith(directive_prefix)]

    def _on_csp_violation(self, violation: dict[str, Any]) -> None:
        self.csp_violations.append(violation)
        uri = violation.get("blocked_uri") or ""
        if uri.startswith(("http:", "https:", "ws:", "wss:")) and not self.is_on_host(uri):
            self.off_host_requests.append(OffHostRequest(uri, "csp"))


@pytest.fixture
def page_log(request: pytest.FixtureRequest, live_server: str) -> PageLog:
    log = PageLog(live_server)
    for marker in request.node.iter_markers("allow_off_host"):
        log.allow_off_host(*marker.args)
    return log


@pytest.fixture
def page(browser: Browser, live_server: str, page_log: PageLog) -> Iterator[Page]:
    """A new context and page on the live server; off-host requests aborted and checked."""
    closing = False

    def route(route: Route, request: Request) -> None:
        try:
            if page_log.is_on_host(request.url):
                route.continue_()
            else:
                page_log.off_host_requests.append(
                    OffHostRequest(request.url, "router", request.resource_type)
                )
                route.abort("blockedbyclient")
        except PlaywrightError:
            if not closing:  # a request racing the context's closing is not the test's fault
                raise

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            page_log.console_errors.append(f"{message.text} ({where})" if where else message.text)

    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.route("**/*", route)
    context.expose_function("__reportCspViolation", page_log._on_csp_violation)
    context.add_init_script(CSP_LISTENER)
    new_page = context.new_page()
    new_page.on("console", console)
    new_page.on("pageerror", lambda error: page_log.page_errors.append(str(error)))
    try:
        yield new_page
    finally:
        closing = True
        context.close()

    unexpected = page_log.unexpected_off_host
    if unexpected:
        listing = "\n".join(f"  {r.url} (blocked by {r.blocked_by})" for r in unexpected)
        pytest.fail(
            "the page attempted requests off the live server's host that the test did not "
            "declare (@pytest.mark.allow_off_host(...) or page_log.allow_off_host(...)):\n"
            + listing,
            pytrace=False,
        )
