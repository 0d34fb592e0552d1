"""Every page of the demo at 800 px: none is wider than the window (a wide table scrolls in
its own box, the page does not). With STEPWISE_SCREENSHOTS=DIR set, each page is also saved."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from annotation.core.models import Project
from tests.e2e import test_demo
from tests.e2e.test_demo import demo_pages, log_in

# The demo's fixtures (the project from load_demo, the tiny model it reads)
demo = test_demo.demo
demo_model = test_demo.demo_model

pytestmark = [pytest.mark.e2e, pytest.mark.models]

WIDTH = 800
SHOTS = os.environ.get("STEPWISE_SCREENSHOTS")
# How far the page reaches past the window, and the widest element that sticks out.
OVERFLOW = """() => {
  const limit = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > limit + 1 && e.getClientRects().length)
    .filter((e) => !e.closest(".table-wrap, .plot-figure, [data-tree-view]"))
    .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
      + (typeof e.className === "string" && e.className ? "." + e.className.trim() : ""));
  return { scroll: document.documentElement.scrollWidth, limit, wide: wide.slice(0, 3) };
}"""


def test_no_page_of_the_demo_is_wider_than_the_window_at_800_px(
    live_server, demo: Project, page: Page
) -> None:
    base = live_server.url
    page.set_viewport_size({"width": WIDTH, "height": 900})
    too_wide: dict[str, object] = {}
    for username, pages in demo_pages(demo).items():
        log_in(page, base, username)
        for name, path in pages:
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, (name, path)
            found = page.evaluate(OVERFLOW)
            if found["scroll"] > found["limit"]:
                too_wide[f"{username}:{name}"] = found
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                safe = re.sub(r"[^a-z0-9-]", "-", name.lower())
                page.screenshot(path=str(Path(SHOTS) / f"{safe}-{WIDTH}.png"), full_page=True)
    assert too_wide == {}
