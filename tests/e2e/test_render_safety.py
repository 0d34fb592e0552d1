"""render.js, keys.js and autosave.js in headless Chromium against static harness pages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:  # fixtures' types; conftest is never imported as a module at run time
    from conftest import HarnessServer, PageWatch

pytestmark = pytest.mark.e2e

ALL_RENDERED = "() => document.querySelectorAll('.user-content:not([data-rendered])').length === 0"

# Every attribute on every element inside a rendered container, as "tag attr=value" strings.
ATTRIBUTES_INSIDE = """() => [...document.querySelectorAll('.user-content *')].flatMap(
    (el) => [...el.attributes].map((a) => `${el.localName} ${a.name}=${a.value}`))"""


def open_render_harness(page_watch: PageWatch, harness_server: HarnessServer) -> Page:
    page = page_watch.page
    page.goto(harness_server.url("/harness/render.html"))
    page.wait_for_function(ALL_RENDERED)
    return page


def item_text(page: Page, name: str) -> str:
    return page.locator(f"#item-{name}").inner_text()


def test_payloads_do_not_run(page_watch: PageWatch, harness_server: HarnessServer) -> None:
    # given the harness page with script payloads in every form we expect
    page = open_render_harness(page_watch, harness_server)

    # when the htmx request swaps in one more payload
    page.click("#load-fragment")
    page.wait_for_selector("#item-swapped[data-rendered]")

    # then nothing ran and no script error happened
    assert page_watch.xss_canary() is None
    assert page_watch.page_errors == []
    assert page_watch.console_errors == []


def test_only_plain_attributes_survive(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given
    page = open_render_harness(page_watch, harness_server)

    # when
    attributes: list[str] = page.evaluate(ATTRIBUTES_INSIDE)

    # then no event handler, htmx, data or style attribute exists inside the containers
    names = [entry.split("=", 1)[0].split(" ", 1)[1] for entry in attributes]
    assert [n for n in names if n.startswith(("on", "hx-", "data-")) or n == "style"] == []
    # and the only links are the two http(s) ones, each opened safely
    links = page.eval_on_selector_all(
        ".user-content a", "els => els.map(a => [a.getAttribute('href'), a.rel, a.target])"
    )
    assert links == [
        ["https://example.org/a", "noopener noreferrer nofollow", "_blank"],
        ["https://example.org", "noopener noreferrer nofollow", "_blank"],
    ]
    assert page.locator(".user-content [href^='javascript' i]").count() == 0
    assert page.locator(".user-content script, .user-content img, .user-content style").count() == 0


def test_payloads_show_as_text(page_watch: PageWatch, harness_server: HarnessServer) -> None:
    page = open_render_harness(page_watch, harness_server)

    assert item_text(page, "script") == "Before <script>window.__xss=1</script> after"
    assert item_text(page, "img") == 'An image: <img src=x onerror="window.__xss=1">'
    assert item_text(page, "htmx-attrs") == (
        '<a hx-get="/steal" hx-trigger="load">x</a> <span data-key="1" data-hx="x">y</span> '
        '<div hx-on:click="window.__xss=1" style="color:red">click</div>'
    )
    assert item_text(page, "js-link").startswith("[click](javascript:window.__xss=1) and ok and")


def test_untrusted_tex_commands_fall_back_to_source(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    page = open_render_harness(page_watch, harness_server)

    errors = page.eval_on_selector_all(
        "#item-href .math-error, #item-url .math-error, #item-html-commands .math-error",
        "els => els.map(e => e.textContent)",
    )
    assert errors == [
        r"$\href{javascript:window.__xss=1}{x}$",
        r"$\url{javascript:window.__xss=1}$",
        r"$\htmlData{onclick=window.__xss=1}{a}$",
        r"$\htmlClass{evil}{b}$",
        r"$\includegraphics{https://example.org/x.png}$",
        r"$\htmlStyle{color:red}{c}$",
        r"$\htmlId{main}{d}$",
    ]
    assert page.locator("#item-href .katex, #item-html-commands .katex").count() == 0


def test_macro_bombs_fail_fast_to_text(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given
    page = open_render_harness(page_watch, harness_server)
    bomb = r"\def\x{aaaaaaaaaa}\def\y{\x\x\x\x\x\x\x\x\x\x}\def\z{\y\y\y\y\y\y\y\y\y\y}"
    bomb += r"\def\w{\z\z\z\z\z\z\z\z\z\z}" + r"\w" * 10

    # when the same bomb is rendered again, timed inside the page
    elapsed_ms = page.evaluate(
        """async (tex) => {
            const { renderToHtml } = await import('/static/js/render.js');
            const start = performance.now();
            renderToHtml('$$' + tex + '$$');
            return performance.now() - start;
        }""",
        bomb,
    )

    # then both bombs show their source, and a generous bound holds (the limit is expansions)
    assert item_text(page, "bomb-recursive") == r"Bomb: $\def\a{\a\a}\a$"
    assert page.locator("#item-bomb-exponential .math-error").inner_text() == f"$${bomb}$$"
    assert elapsed_ms < 1000
    assert page.evaluate("() => 6 * 7") == 42


def test_gdef_does_not_leak_between_items(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    page = open_render_harness(page_watch, harness_server)

    assert page.locator("#item-gdef-1 .katex").nth(1).locator("mi").all_text_contents() == list(
        "LEAKED"
    )
    assert page.locator("#item-gdef-2 .math-error").inner_text() == r"$\leak$"
    assert "LEAKED" not in item_text(page, "gdef-2")


def test_valid_math_renders(page_watch: PageWatch, harness_server: HarnessServer) -> None:
    page = open_render_harness(page_watch, harness_server)

    assert page.locator("#item-math .katex").count() == 4
    assert page.locator("#item-math .katex mfrac mn").all_text_contents() == ["1", "2"]
    assert page.locator("#item-math .math-display").count() == 2
    assert page.locator("#item-math .math-error").count() == 0
    assert page.locator("#item-swapped .katex").count() == 0  # not loaded in this test
    assert page.locator("#item-plain .katex msup").count() == 1
    assert item_text(page, "plain").endswith("<b>line two</b> costs $3")


def test_code_keeps_dollars_literal(page_watch: PageWatch, harness_server: HarnessServer) -> None:
    page = open_render_harness(page_watch, harness_server)

    assert page.locator("#item-code code").all_inner_texts() == ["$x$", "$z$ <b>\n"]
    assert page.locator("#item-code .katex").count() == 0
    assert page.locator("#item-code a").get_attribute("title") == "$y$"
    assert item_text(page, "code").startswith("Costs $5 and $10; code $x$ stays")


def test_htmx_swap_is_rendered(page_watch: PageWatch, harness_server: HarnessServer) -> None:
    page = open_render_harness(page_watch, harness_server)

    page.click("#load-fragment")

    swapped = page.locator("#item-swapped[data-rendered]")
    expect(swapped.locator(".katex msqrt")).to_have_count(1)
    assert swapped.inner_text().endswith("<img src=x onerror=window.__xss=1>")
    assert page_watch.xss_canary() is None


# ---- keys.js ----


def clicks(page: Page) -> list[str]:
    return page.evaluate("() => window.__clicks")


def test_declared_key_clicks_button_in_active_scope(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given step 1 is current
    page = page_watch.page
    page.goto(harness_server.url("/harness/keys.html"))
    page.wait_for_selector("#step-1 .key-hint")

    # when grading step 1, moving to step 2, grading it, and pressing a disabled key there
    page.keyboard.press("1")
    page.keyboard.press("j")
    page.keyboard.press("3")
    page.keyboard.press("2")
    page.keyboard.press("x")

    # then only visible, enabled buttons of the current scope were clicked
    assert clicks(page) == ["step-1:-1", "step-2:+1", "page:x"]
    assert page.get_attribute("#step-2", "aria-current") == "true"
    assert page.get_attribute("#step-1", "aria-current") is None
    assert page.locator("#step-1 button.grade-bad .key-hint").inner_text() == "1"
    assert page.get_attribute("button.primary", "aria-keyshortcuts") == "Control+Enter Meta+Enter"
    assert page_watch.page_errors == []


def test_typing_does_not_trigger_shortcuts(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    page = page_watch.page
    page.goto(harness_server.url("/harness/keys.html"))
    page.wait_for_selector("#step-1 .key-hint")

    page.click("#note")
    page.keyboard.type("1j3x?")
    page.keyboard.press("Control+Enter")

    assert page.input_value("#note") == "1j3x?"
    assert clicks(page) == ["page:submit"]
    assert page.locator("dialog.key-help").count() == 0


def test_question_mark_lists_shortcuts(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    page = page_watch.page
    page.goto(harness_server.url("/harness/keys.html"))
    page.wait_for_selector("#step-1 .key-hint")

    page.keyboard.press("?")

    dialog = page.locator("dialog.key-help")
    expect(dialog).to_be_visible()
    rows = dialog.locator("tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )
    assert rows == [
        ["j ↓", "Next step", "page"],
        ["k ↑", "Previous step", "page"],
        ["1", "\N{MINUS SIGN}1", "step"],
        ["2", "0", "step"],
        ["3", "+1", "step"],
        ["x", "Page-level x", "page"],
        ["Ctrl+↵", "Submit", "page"],
        ["?", "Show or hide this list", "page"],
    ]
    page.keyboard.press("1")  # keys outside the open dialog are inert
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert clicks(page) == []


# ---- autosave.js ----

AUTOSAVE_PAGE = "/harness/autosave.html?debounce=50&retry=200&version=1"


def test_autosave_saves_conflicts_and_retries(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given a server that accepts, then reports a conflict, then drops a connection, then accepts
    endpoint = harness_server.endpoint
    conflict = {"error": "edited elsewhere", "current": {"text": "theirs"}, "version": 5}
    endpoint.script((200, {"version": 2}), (409, conflict), "drop", (200, {"version": 6}))
    page = page_watch.page
    page.context.add_cookies(
        [{"name": "csrftoken", "value": "tok123", "url": harness_server.base_url}]
    )
    page.goto(harness_server.url(AUTOSAVE_PAGE))

    # when the first edit is saved
    page.fill("#text", "first")
    expect(page.locator("#status")).to_have_text("saved")
    # then
    expect(page.locator("#version")).to_have_text("2")
    assert endpoint.requests == [
        {"method": "PUT", "csrf": "tok123", "body": {"text": "first", "version": 1}}
    ]

    # when a second edit meets someone else's save
    page.fill("#text", "second")
    expect(page.locator("#status")).to_have_text("conflict")
    # then the page received the server's JSON and the draft is still kept locally
    assert json.loads(page.inner_text("#conflict")) == conflict
    assert json.loads(page.evaluate("() => localStorage.getItem('harness-draft')"))["payload"] == {
        "text": "second"
    }

    # when the annotator keeps their text and the connection drops once
    page.click("#keep-mine")
    expect(page.locator("#status")).to_have_text("saved")

    # then a retry was reported and the save went through on version 5
    assert page.inner_text("#log").split() == [
        "pending", "saving", "saved",
        "pending", "saving", "conflict",
        "pending", "saving", "retrying", "saving", "saved",
    ]  # fmt: skip
    expect(page.locator("#version")).to_have_text("6")
    assert [r["body"] for r in endpoint.requests[1:]] == [
        {"text": "second", "version": 2},
        {"text": "second", "version": 5},
        {"text": "second", "version": 5},
    ]
    assert page.evaluate("() => localStorage.getItem('harness-draft')") is None
    assert page_watch.page_errors == []


def test_autosave_restores_draft_after_reload(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given a long debounce, so the edit exists only as a local draft
    harness_server.endpoint.script()
    page = page_watch.page
    page.goto(harness_server.url("/harness/autosave.html?debounce=60000&version=3"))
    page.fill("#text", "unsaved thought")
    expect(page.locator("#status")).to_have_text("pending")

    # when the page is reloaded before its save is due
    page.reload()

    # then the draft is back, based on the version it was written against
    expect(page.locator("#status")).to_have_text("restored")
    assert page.input_value("#text") == "unsaved thought"
    expect(page.locator("#version")).to_have_text("3")
    # and the pending save went as the page was left (pagehide, keepalive), once
    for _ in range(200):
        if harness_server.endpoint.requests:
            break
        page.wait_for_timeout(50)
    assert [r["body"] for r in harness_server.endpoint.requests] == [
        {"text": "unsaved thought", "version": 3}
    ]
