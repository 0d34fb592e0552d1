"""What the workspace's browser tests share: logging in, waiting for rendered text."""

from __future__ import annotations

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
