"""What user content may draw and cost: every item paints inside its own box, a bounded number
of formulas per item is rendered, and bidi controls are shown, never obeyed."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page

if TYPE_CHECKING:  # fixtures' types; conftest is never imported as a module at run time
    from conftest import HarnessServer, PageWatch

pytestmark = pytest.mark.e2e

ALL_RENDERED = "() => document.querySelectorAll('.user-content:not([data-rendered])').length === 0"
FAKE_BANNER = r"\text{All steps verified correct ✓}"

# The part of each element under `container` that can be seen (its box cut by every ancestor that
# clips), listed when it lies outside the box of `owner`. Zero-size and clipped-away boxes are
# skipped.
VISIBLE_OUTSIDE = """([container, owner]) => {
    const root = document.querySelector(container);
    const bounds = root.closest(owner).getBoundingClientRect();
    const clipOf = (element) => {
        const style = getComputedStyle(element);
        // Containment and overflow do nothing on inline boxes.
        const clips = style.display !== "inline" && (/paint|strict|content/.test(style.contain)
            || style.overflowX !== "visible" || style.overflowY !== "visible");
        if (!clips) return null;
        const r = element.getBoundingClientRect();
        const margin = parseFloat(style.overflowClipMargin) || 0;
        return {left: r.left - margin, top: r.top - margin,
                right: r.right + margin, bottom: r.bottom + margin};
    };
    const outside = [];
    for (const element of root.querySelectorAll("*")) {
        const r = element.getBoundingClientRect();
        let v = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
        for (let a = element.parentElement; a && a !== document.body; a = a.parentElement) {
            const c = clipOf(a);
            if (c) v = {left: Math.max(v.left, c.left), top: Math.max(v.top, c.top),
                        right: Math.min(v.right, c.right), bottom: Math.min(v.bottom, c.bottom)};
            if (a === root) break;
        }
        if (v.right - v.left < 1 || v.bottom - v.top < 1) continue;
        if (v.left < bounds.left - 0.5 || v.top < bounds.top - 0.5
            || v.right > bounds.right + 0.5 || v.bottom > bounds.bottom + 0.5) {
            outside.push(element.localName);
        }
    }
    return outside;
}"""

# Points on an 8 px grid over the viewport where the element's content is what the browser hits
# (what a reader sees and clicks) although the point lies outside the element's box.
HITS_OUTSIDE = """(selector) => {
    const step = document.querySelector(selector);
    const box = step.getBoundingClientRect();
    const hits = [];
    for (let y = 0; y < innerHeight; y += 8) {
        for (let x = 0; x < innerWidth; x += 8) {
            const hit = document.elementFromPoint(x, y);
            if (!hit || !step.contains(hit)) continue;
            if (x < box.left || x > box.right || y < box.top || y > box.bottom) {
                hits.push(`${hit.localName} at ${x},${y}`);
            }
        }
    }
    return hits;
}"""


def open_steps(page_watch: PageWatch, harness_server: HarnessServer, **query: str) -> Page:
    page = page_watch.page
    page.goto(harness_server.url(f"/harness/steps.html?{urlencode(query)}"))
    page.wait_for_function(ALL_RENDERED)
    page.evaluate("() => document.getElementById('step-2').scrollIntoView({block: 'center'})")
    return page


@pytest.mark.parametrize(
    "tex",
    [
        r"\rule{10000em}{10000em}",
        r"\rule[25em]{5em}{1em}",
        r"\raisebox{40em}{" + FAKE_BANNER + "}",
        r"\raisebox{-40em}{" + FAKE_BANNER + "}",
        r"\raisebox{19em}{\raisebox{19em}{" + FAKE_BANNER + "}}",
        r"\kern-30em" + FAKE_BANNER,
        r"\hspace{-30em}" + FAKE_BANNER,
        r"\mathllap{" + FAKE_BANNER + FAKE_BANNER + "}",
        r"\mathrlap{\rule{20em}{1em}\rule{20em}{1em}\rule{20em}{1em}}",
    ],
    ids=[
        "rule",
        "rule-raised",
        "raisebox",
        "raisebox-down",
        "raisebox-nested",
        "kern",
        "hspace",
        "mathllap",
        "mathrlap",
    ],
)
def test_a_formula_draws_only_inside_its_step(
    page_watch: PageWatch, harness_server: HarnessServer, tex: str
) -> None:
    # given a step between two others holding a formula that moves or sizes its content
    # when the page renders it
    page = open_steps(page_watch, harness_server, text=f"Step two: ${tex}$ and more.")

    # then what can be seen of it stays inside its step, and no other row shows or clicks it
    assert page.evaluate(VISIBLE_OUTSIDE, ["#item-2", ".step"]) == []
    assert page.evaluate(HITS_OUTSIDE, "#step-2") == []
    assert page_watch.console_errors == []


def test_an_inline_item_draws_only_inside_its_own_box(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given an inline item (the answer line) whose formula is raised twice by 19em
    page = page_watch.page
    page.goto(harness_server.url("/harness/steps.html"))
    page.wait_for_function(ALL_RENDERED)
    page.evaluate(
        """async (tex) => {
            const answer = document.getElementById("answer");
            answer.textContent = tex;
            answer.removeAttribute("data-rendered");
            const { renderUserContent } = await import("/static/js/render.js");
            await renderUserContent(answer);
            answer.scrollIntoView({block: "end"});
        }""",
        r"$\raisebox{19em}{\raisebox{19em}{" + FAKE_BANNER + "}}$",
    )

    # then it is rendered, and nothing of it shows outside the answer's own box
    assert page.locator("#answer .katex mpadded").count() == 2
    assert page.evaluate(VISIBLE_OUTSIDE, ["#answer", "#answer"]) == []
    assert page.evaluate(HITS_OUTSIDE, "#answer") == []


def test_sizes_over_the_limit_show_the_source(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given sizes that KaTeX does not clamp itself: negative ones and \raisebox offsets
    text = r"$\raisebox{40em}{x}$ $\kern-30em y$ $\raisebox{-3in}{z}$ $\rule{1em}{1em}$"

    # when rendered
    page = open_steps(page_watch, harness_server, text=text)

    # then each is refused with its reason, and the small rule renders
    errors = page.eval_on_selector_all(
        "#item-2 .math-error", "els => els.map(e => [e.textContent, e.title])"
    )
    assert errors == [
        [r"$\raisebox{40em}{x}$", "sizes over 20em are not allowed (40em)"],
        [r"$\kern-30em y$", "sizes over 20em are not allowed (-30em)"],
        [r"$\raisebox{-3in}{z}$", "sizes over 20em are not allowed (-3in)"],
    ]
    assert page.locator("#item-2 .katex mspace").count() == 1


def test_ten_thousand_formulas_render_only_the_budget(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given one step holding 10,000 inline formulas
    # when the page renders it
    page = open_steps(page_watch, harness_server, text="$x_1$", repeat="10000")

    # then the first 200 are math, the other 9,800 stay TeX source, and a note says so
    item = page.locator("#item-2")
    assert item.locator(".katex").count() == 200
    assert item.locator(".math-source").count() == 9800
    assert item.locator(".math-source").last.inner_text() == "$x_1$"
    assert item.locator(".render-note").inner_text() == (
        "The first 200 of 10000 formulas are shown as math, the rest as TeX."
    )
    assert page_watch.console_errors == []


def test_many_items_give_the_page_back_while_they_render(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given a page, and 40 new items of 200 formulas each (far more than one slice of work)
    page = open_steps(page_watch, harness_server, text="step")

    # when they are rendered, with a task queued right after rendering starts
    rendered_when_task_ran, total = page.evaluate(
        """async () => {
            const { renderUserContent } = await import("/static/js/render.js");
            const box = document.createElement("div");
            for (let i = 0; i < 40; i++) {
                const item = document.createElement("div");
                item.className = "user-content";
                item.dataset.render = "markdown";
                item.textContent = Array(200).fill("$y^2$").join(" ");
                box.append(item);
            }
            document.querySelector("main").append(box);
            const done = renderUserContent(box);
            let seen = null;
            setTimeout(() => { seen = box.querySelectorAll("[data-rendered]").length; }, 0);
            await done;
            return [seen, box.querySelectorAll("[data-rendered]").length];
        }"""
    )

    # then that task ran before the last item was rendered (the main thread was not held)
    assert total == 40
    assert rendered_when_task_ran is not None
    assert rendered_when_task_ran < 40


def test_bidi_controls_are_shown_not_obeyed(
    page_watch: PageWatch, harness_server: HarnessServer
) -> None:
    # given a step whose text and math hide overrides, isolates and marks
    text = "Total \u202e1 + 2 = 4\u202c, then \u2066x\u2069 and $a\u202eb\u200f$ end"

    # when rendered
    page = open_steps(page_watch, harness_server, text=text)

    # then every control shows as its name, and none is left in the page's text
    item_text = (page.locator("#item-2").text_content() or "").strip()
    assert item_text == "Total ⟨RLO⟩1 + 2 = 4⟨PDF⟩, then ⟨LRI⟩x⟨PDI⟩ and a⟨RLO⟩b⟨RLM⟩ end"
    assert page.locator("#item-2 .katex").count() == 1
    controls = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert [c for c in item_text if c in controls] == []
