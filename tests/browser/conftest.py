"""Browser tests: the real application under gunicorn, driven by Chromium through Playwright.

Fixtures (use them from any test under tests/browser):

- `live_server` (session): the base URL (``http://127.0.0.1:<port>``) of gunicorn serving
  `wsgi:app` in its own process, on a scratch PostgreSQL database of its own
  (the test database's name + ``_browser``, created and migrated at session start,
  dropped at the end, so it never meets the other tests' data) and TEST_REDIS_URL.
  Rate limits are off. Create data through the UI or the JSON API of that server.
  (`live_database_url` is that database's URL; `live_env` the environment both processes get.)
- `live_worker` (session): one real `flask worker` process (tests/jobs' `WorkerProcess`) on
  the same database, Redis and queue, processing in 5 steps of 0.4 s so that a page shows the
  progress moving. Ask for it in any test that needs jobs to run; without it they stay queued.
  The queue has a name of its own (`LIVE_QUEUE`), so the jobs tests' workers, which share the
  Redis database, never take its jobs, nor it theirs.
- `browser` (session): Debian's Chromium (/usr/bin/chromium) via the plain
  `playwright.sync_api`; no browser is ever downloaded.
- `page` (function): a fresh context (cookies, storage) and page whose ``base_url`` is the
  live server, so ``page.goto("/api/docs")`` works. Every request is routed: the live server's
  host:port goes through, anything else is aborted and recorded. At teardown the test fails
  if an off-host request was attempted that the test did not declare, or if the page broke
  its Content-Security-Policy or threw (unless marked `page_problems_expected`).
- `page_log` (function): what the page did, for assertions (see `PageLog`): off-host
  attempts, console errors, uncaught page errors, Content-Security-Policy violations.

- `page_without_js` (function): the same as `page`, with JavaScript off.

Helpers (plain functions): `sign_up(page)` makes a fresh account through the sign-up form and
leaves the page signed in; `make_tasks(page, n, **fields)` creates that account's tasks through
the JSON API; `api(page, method, path, ...)` calls the API as that account; `axe(page)` runs
axe-core (tests/browser/vendor) and returns the serious and critical violations.

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

import base64
import fnmatch
import re
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
import redis
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from rq import Queue, Worker

from tests.conftest import required_env, scratch_database
from tests.jobs.conftest import WorkerProcess
from tests.servers import app_env, gunicorn, migrate

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# The live server's and live worker's RQ queue (see `live_env`).
LIVE_QUEUE = "tasktracker-browser-tests"
WORKER_START_SECONDS = 30
# Flags seen working as root on these machines (../shared/LIBRARIES.md beside the project).
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
    config.addinivalue_line(
        "markers",
        "page_problems_expected: browser tests only; CSP violations and uncaught script errors "
        "don't fail the test by themselves (it asserts on page_log itself)",
    )


# --- the application under gunicorn ------------------------------------------------------


@pytest.fixture(scope="session")
def live_database_url() -> Iterator[str]:
    """The scratch database of the live server and the live worker (created empty here)."""
    with scratch_database("browser") as database_url:
        yield database_url


@pytest.fixture(scope="session")
def live_env(live_database_url: str) -> dict[str, str]:
    """The environment the live server and the live worker share, the database migrated.
    Their queue has a name of its own: the jobs tests' workers share the Redis database, and
    neither side must take the other's jobs while the session's worker is still up."""
    env = app_env(live_database_url, required_env("TEST_REDIS_URL"), JOB_QUEUE=LIVE_QUEUE)
    migrate(env)
    # Job ids a previous session left queued name jobs of a database since dropped.
    with redis.Redis.from_url(env["REDIS_URL"]) as connection:
        Queue(LIVE_QUEUE, connection=connection).empty()
    return env


@pytest.fixture(scope="session")
def live_server(
    live_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """gunicorn serving the application on a free port; yields its base URL."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with gunicorn(live_env, log) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def live_worker(
    live_server: str, live_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One real `flask worker` on the live server's database, Redis and queue, with steps slow
    enough for a page to show the progress moving (5 steps of 0.4 s). Yields once the worker
    listens on the queue."""
    env = {
        **live_env,
        "PROCESS_STEPS": "5",
        "PROCESS_STEP_SECONDS": "0.4",
        "LOG_LEVEL": "INFO",
    }
    worker = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log", env)
    try:
        _wait_until_listening(worker, env["REDIS_URL"])
        yield worker
    finally:
        worker.stop()


def _wait_until_listening(worker: WorkerProcess, redis_url: str) -> None:
    deadline = time.monotonic() + WORKER_START_SECONDS
    with redis.Redis.from_url(redis_url) as connection:
        queue = Queue(LIVE_QUEUE, connection=connection)
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                pytest.fail(
                    f"flask worker exited with status {worker.process.returncode}; its log:\n"
                    + worker.output()[-4000:],
                    pytrace=False,
                )
            if any(w.pid == worker.pid for w in Worker.all(queue=queue)):
                return
            time.sleep(0.1)
    pytest.fail(
        f"flask worker did not listen within {WORKER_START_SECONDS} s; its log:\n"
        + worker.output()[-4000:],
        pytrace=False,
    )


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
    # When true (the default), a CSP violation or an uncaught script error fails the test.
    must_be_clean: bool = True
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
    log.must_be_clean = request.node.get_closest_marker("page_problems_expected") is None
    for marker in request.node.iter_markers("allow_off_host"):
        log.allow_off_host(*marker.args)
    return log


@contextmanager
def _open_page(
    browser: Browser, live_server: str, page_log: PageLog, **context_options: Any
) -> Iterator[Page]:
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

    context = browser.new_context(base_url=live_server, **context_options)
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
    problems = page_log.csp_violations + page_log.page_errors
    if page_log.must_be_clean and problems:
        pytest.fail(
            "the page broke its Content-Security-Policy or threw (mark the test "
            "@pytest.mark.page_problems_expected if that is what it checks):\n"
            + "\n".join(f"  {problem}" for problem in problems),
            pytrace=False,
        )


@pytest.fixture
def page(browser: Browser, live_server: str, page_log: PageLog) -> Iterator[Page]:
    """A new context and page on the live server; off-host requests aborted and checked."""
    with _open_page(browser, live_server, page_log) as new_page:
        yield new_page


@pytest.fixture
def page_without_js(browser: Browser, live_server: str, page_log: PageLog) -> Iterator[Page]:
    """The same with JavaScript off: forms POST, the server redirects, the user reloads.
    (The CSP listener is a script too: CSP violations are not recorded on this page.)"""
    with _open_page(browser, live_server, page_log, java_script_enabled=False) as new_page:
        yield new_page


# --- helpers: accounts, data, accessibility ----------------------------------------------

PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    email: str
    password: str
    token: str | None = None


# The accounts `sign_up` made, by page: `make_tasks` signs in to the API with them.
_accounts: weakref.WeakKeyDictionary[Page, Account] = weakref.WeakKeyDictionary()


def unique(prefix: str) -> str:
    """A name no other test uses (the live server's data lasts the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sign_up(page: Page, name: str = "Ada Lovelace") -> tuple[str, str]:
    """A fresh account made through the real sign-up form (the page ends signed in, on the
    task list); returns (email, password)."""
    email = f"{unique('user')}@example.com"
    page.goto("/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{_base(page)}/tasks")
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {name}!")
    _accounts[page] = Account(email, PASSWORD)
    return email, PASSWORD


def api_token(page: Page) -> str:
    """A bearer token of the account `sign_up` made on this page (created once, by HTTP
    Basic, as the API's clients do)."""
    account = _accounts.get(page)
    if account is None:
        raise AssertionError("sign_up(page) first: the API needs the page's account")
    if account.token is None:
        basic = base64.b64encode(f"{account.email}:{account.password}".encode()).decode()
        response = page.request.post(
            "/api/tokens",
            headers={"Authorization": f"Basic {basic}"},
            data={"name": unique("tests")},
        )
        assert response.status == 201, response.text()
        account.token = response.json()["token"]
    return account.token


def api(page: Page, method: str, path: str, **options: Any) -> Any:
    """One call to the live server's JSON API as the page's account; returns the response."""
    headers = {"Authorization": f"Bearer {api_token(page)}", **options.pop("headers", {})}
    return page.request.fetch(path, method=method, headers=headers, **options)


def submit_refused(page: Page, button: str, path: str) -> None:
    """Submits the page's form with this button and checks the refusal every form gives: a
    422 from `path` (a regular expression), and the alert above the form."""
    with page.expect_response(re.compile(path)) as answer:
        page.get_by_role("button", name=button).click()
    assert answer.value.status == 422
    expect(page.get_by_role("alert")).to_have_text("Please correct the fields marked below.")


def expect_field_error(field: Locator, message: str) -> None:
    """The field is marked invalid, and its error is what assistive technology reads for it."""
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(message)


def make_tasks(page: Page, n: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """Creates `n` tasks of the page's account through the JSON API; returns them as the API
    does. A string field may use `{i}` (1..n): ``make_tasks(page, 3, title="Report {i}")``;
    the default title is ``Task {i}``."""
    fields.setdefault("title", "Task {i}")
    created = []
    for i in range(1, n + 1):
        body = {k: v.format(i=i) if isinstance(v, str) else v for k, v in fields.items()}
        response = api(page, "POST", "/api/tasks", data=body)
        assert response.status == 201, response.text()
        created.append(response.json())
    return created


_axe_routed: weakref.WeakSet[Page] = weakref.WeakSet()


def axe(page: Page) -> list[dict[str, Any]]:
    """Runs axe-core on the page as it is; returns the serious and critical violations, each
    with the CSS selectors of the offending nodes.

    The app's CSP (script-src 'self') refuses inline scripts, and `add_script_tag(path=...)`
    inserts exactly that (the file's text inside a <script>): the browser blocks it and `axe`
    never exists. So the file is served at a same-origin URL that this page's own route
    fulfils from disk (a page route wins over the context's), and the tag points at it:
    a script from 'self', which the CSP allows, and which never reaches the server."""
    page.wait_for_load_state("load")  # style sheets too: contrast depends on them
    url = f"{_base(page)}/__tests__/axe.min.js"
    if page not in _axe_routed:
        page.route(url, lambda route: route.fulfill(path=AXE, content_type="text/javascript"))
        _axe_routed.add(page)
    page.add_script_tag(url=url)
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [" ".join(map(str, node["target"])) for node in violation["nodes"]],
        }
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def _base(page: Page) -> str:
    """The live server's base URL, from the page's current address."""
    parts = urlsplit(page.url)
    assert parts.scheme in ("http", "https"), f"the page is not on the server yet: {page.url}"
    return f"{parts.scheme}://{parts.netloc}"
