"""Browser-test fixtures: Debian's Chromium driven by Playwright (sync API).

Works with and without pytest-django (`python -m pytest -p no:django tests/e2e`): nothing here
imports Django or requests the `db` fixture. Browsers are never downloaded; the system Chromium
is used (`apt-get install -y chromium`).

Every page runs under the site's Content-Security-Policy (the harness server sends the same
header as Django), and any violation the browser reports fails the test.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from annotation.core.content_policy import csp_directives, csp_header

# Playwright's sync API runs an event loop in the test thread; Django's ORM would refuse to run
# in tests that also use `live_server` unless this is set.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# How long a page action or an `expect` waits for its condition: `make test` runs three
# processes on two cores, where a save and the page's answer can take seconds; a test that
# only timed out under load is a defect (these are waits for a condition, not timings).
WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS_DIR = Path(__file__).resolve().parent / "harness"
STATIC_DIR = REPO_ROOT / "static"
AUTOSAVE_PATH = "/api/autosave"
CSP_HEADER = csp_header(csp_directives(https=False))
# Chromium reports each blocked script, style, frame or request on the console with this text.
CSP_VIOLATION = "Content Security Policy"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e_dir = Path(__file__).resolve().parent
    for item in items:
        if e2e_dir in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"{CHROMIUM_PATH} is missing: run `apt-get install -y chromium`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Makes browser contexts that record CSP violations; any violation fails the test."""
    contexts: list[BrowserContext] = []
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if CSP_VIOLATION in message.text:
            violations.append(message.text)

    def make() -> BrowserContext:
        fresh = browser.new_context(viewport={"width": 1280, "height": 900})
        fresh.set_default_timeout(WAIT_MS)
        fresh.on("console", on_console)
        contexts.append(fresh)
        return fresh

    yield make
    for fresh in contexts:
        fresh.close()
    assert violations == [], "the page broke the Content-Security-Policy"


@pytest.fixture
def context(new_context: Callable[[], BrowserContext]) -> BrowserContext:
    return new_context()


@dataclass
class PageWatch:
    """What a page reported while a test drove it."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def xss_canary(self) -> Any:
        """The value of `window.__xss`: None unless injected script ran."""
        return self.page.evaluate("() => window.__xss ?? null")


@pytest.fixture
def page_watch(context: BrowserContext) -> PageWatch:
    watch = PageWatch(page=context.new_page())

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.console_errors.append(message.text)

    watch.page.on("console", on_console)
    watch.page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    return watch


@pytest.fixture
def page(page_watch: PageWatch) -> Page:
    return page_watch.page


class ScriptedEndpoint:
    """Answers requests to AUTOSAVE_PATH from a queue of scripted replies, recording each body.

    A reply is (status, json body) or the string "drop" to close the connection unanswered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.replies: list[tuple[int, dict[str, Any]] | str] = []
        self.requests: list[dict[str, Any]] = []

    def script(self, *replies: tuple[int, dict[str, Any]] | str) -> None:
        with self._lock:
            self.replies = list(replies)
            self.requests = []

    def next_reply(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]] | str:
        with self._lock:
            self.requests.append(request)
            return self.replies.pop(0) if self.replies else (500, {"error": "no scripted reply"})


class HarnessHandler(SimpleHTTPRequestHandler):
    """Serves /static/ from static/, /harness/ from tests/e2e/harness/, and the scripted API."""

    endpoint: ScriptedEndpoint

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP_HEADER)
        super().end_headers()

    def translate_path(self, path: str) -> str:
        route = path.split("?", 1)[0]
        for prefix, directory in (("/static/", STATIC_DIR), ("/harness/", HARNESS_DIR)):
            if route.startswith(prefix):
                return str(directory / route[len(prefix) :])
        return str(HARNESS_DIR / "missing")

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        if str(path).endswith(".mjs"):
            return "text/javascript"
        return super().guess_type(path)

    def do_PUT(self) -> None:
        self._answer_api()

    def do_POST(self) -> None:
        self._answer_api()

    def _answer_api(self) -> None:
        if self.path != AUTOSAVE_PATH:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = {
            "method": self.command,
            "csrf": self.headers.get("X-CSRFToken"),
            "body": json.loads(body or b"null"),
        }
        reply = self.endpoint.next_reply(request)
        if isinstance(reply, str):  # "drop"
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status, payload = reply
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class HarnessServer:
    base_url: str
    endpoint: ScriptedEndpoint

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@pytest.fixture(scope="session")
def harness_server() -> Iterator[HarnessServer]:
    """A throwaway http.server on 127.0.0.1 serving the harness pages and static/ (no database)."""
    if not (STATIC_DIR / "vendor" / "MANIFEST.json").exists():
        pytest.fail("static/vendor/ is missing: run `npm ci && npm run build:vendor`")
    endpoint = ScriptedEndpoint()
    handler = type("BoundHarnessHandler", (HarnessHandler,), {"endpoint": endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield HarnessServer(base_url=f"http://127.0.0.1:{server.server_port}", endpoint=endpoint)
    server.shutdown()
    server.server_close()
