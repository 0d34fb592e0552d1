"""What the workspace's browser tests share: logging in, waiting for rendered text."""

from __future__ import annotations

import re

from playwright.sync_api import Page

PASSWORD = "pw-for-tests"  # tests.factories.UserFactory's
ALL_RENDERED = (
    "() => document.querySelectorAll('.user-content[data-render]:not([data-rendered])')"
    ".length === 0"
)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def open_next_item(page: Page, base: str, project_id: int) -> None:
    """From the project's work queue, `n` claims the next item; waits for its page's text."""
    page.goto(f"{base}/projects/{project_id}/work/")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    page.wait_for_function(ALL_RENDERED)
