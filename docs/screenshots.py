"""Screenshots of the real pages for README.md: `make screenshots` (or
`.venv/bin/python docs/screenshots.py`).

It serves the app on 127.0.0.1 with a throwaway SQLite database and the in-process queue
(nothing else to run), fills an account with demo tasks, runs one task's processing, then
photographs the task list and a task's page in Debian's Chromium at 1280 and 375 pixels wide.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from tasktracker import create_app  # noqa: E402
from tasktracker.services import accounts, tasks  # noqa: E402
from tasktracker.services.seed import seed_tasks  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
EMAIL, PASSWORD = "demo@example.com", "demo-password"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
WIDTHS = {"desktop": (1280, 900), "phone": (375, 812)}


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{directory}/screens.sqlite3",
                "REDIS_URL": None,
                "RATELIMIT_ENABLED": False,
                "PROCESS_STEP_SECONDS": 2,
                "LOG_LEVEL": "WARNING",
            }
        )
        with app.app_context():
            upgrade()
            user = accounts.register_user(
                {"email": EMAIL, "name": "Demo", "password": PASSWORD}, by_operator=True
            )
            seed_tasks(user, 57, seed=3)
            featured = [  # one per width: each is processed while it is photographed
                tasks.create_task(
                    user,
                    {"title": "Prepare the quarterly report", "priority": 5,
                     "description": "Numbers from finance by Thursday.\nDraft to Sam on Friday.",
                     "due_at": "2026-12-04T16:00:00Z", "tags": ["work", "finance"]},
                ).body["id"]
                for _ in WIDTHS
            ]  # fmt: skip
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            shoot(base, featured)
        finally:
            server.shutdown()


def shoot(base: str, task_ids: list[int]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        for (name, (width, height)), task_id in zip(WIDTHS.items(), task_ids, strict=True):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{base}/signin")
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/tasks?sort=-priority,due_at&per_page=10")
            page.screenshot(path=OUT / f"list-{name}.png", full_page=True)
            page.goto(f"{base}/tasks/{task_id}")
            page.get_by_role("button", name="Process", exact=True).click()
            page.wait_for_selector("progress[value='40']")  # mid-way, updated by htmx
            page.screenshot(path=OUT / f"detail-{name}.png", full_page=True)
            page.close()
        browser.close()
    print(f"Screenshots written to {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
