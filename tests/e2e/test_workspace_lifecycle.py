"""Submitted work is final until a reviewer returns it: in headless Chromium against the real
server and PostgreSQL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from annotation.core.models import Project, Role
from annotation.grading.models import Grade
from annotation.workspace.models import Assignment, ItemKind
from tests.e2e.pages import ALL_RENDERED, log_in
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STEPS = ["Let $x = 2$.", "Then $x^2 = 4$.", "So $x^2 + 1 = 6$.", "Hence $\\sqrt{6}$.", "Done."]


@pytest.fixture
def setup(db):
    project = Project.objects.create(name="lifecycle", overlap=1, stop_at_first_bad_step=True)
    users = {}
    for name, role in [("ann", Role.ANNOTATOR), ("rev", Role.REVIEWER)]:
        users[name] = UserFactory(username=name)
        MembershipFactory(project=project, user=users[name], role=role)
    problem = ProblemFactory(project=project, text="Let $f(x)=\\sqrt{x^2+1}$; find $f(2)$.")
    trace = trace_with_steps(problem, STEPS)
    return project, users, trace


def ratings_shown(page: Page) -> list[str | None]:
    return page.eval_on_selector_all(
        "#steps > li.step", "items => items.map((li) => li.getAttribute('data-grade'))"
    )


def api_write(page: Page, url: str, body: dict) -> dict:
    """A write the page's own code would never send: straight to the API, with the session."""
    return page.evaluate(
        """async ([url, body]) => {
          const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrftoken='))
            ?.slice('csrftoken='.length) ?? '';
          const response = await fetch(url, {method: 'PUT', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
            body: JSON.stringify(body)});
          return {status: response.status, body: await response.json()};
        }""",
        [url, body],
    )


def test_submitted_work_is_read_only_until_returned_and_history_keeps_both_versions(
    live_server, setup, page_watch: PageWatch, new_context
) -> None:
    project, users, trace = setup
    page = page_watch.page
    base = live_server.url
    saves: list[str] = []
    page.on("request", lambda r: saves.append(r.url) if r.method == "PUT" else None)
    log_in(page, base, "ann")

    # The annotator grades the trace with the keyboard and submits: found error at step 3.
    page.goto(f"{base}/projects/{project.pk}/work/")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    work_url = page.url
    page.wait_for_function(ALL_RENDERED)
    for key in ["3", "3", "1"]:
        page.keyboard.press(key)
    expect(page.locator("#save-status")).to_have_text("All changes saved")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{base}/projects/{project.pk}/work/")
    claim = Assignment.objects.get(annotator=users["ann"], kind=ItemKind.GRADE)
    assert (claim.status, claim.finish_reason, claim.version) == ("submitted", "found_error", 3)

    # Reopened after a reload, it is read-only: keys do nothing, no save is sent.
    page.goto(work_url)
    page.wait_for_function(ALL_RENDERED)
    expect(page.locator("#read-only")).to_contain_text("this work is final")
    expect(page.locator("#status-pill")).to_have_text("Submitted")
    assert page.locator("#submit").count() == 0
    assert page.locator("#skip-reason").count() == 0
    expect(page.locator("#steps [data-rating='0']").first).to_be_disabled()
    saves.clear()
    page.keyboard.press("j")
    page.keyboard.press("2")
    page.keyboard.press("1")
    assert ratings_shown(page) == ["1", "1", "-1", None, None]
    assert saves == []
    # ... and the API refuses a direct write with 409 and a message.
    refused = api_write(
        page,
        f"{base}/api/work/{claim.pk}/draft",
        {"version": 3, "grades": {str(trace.steps.get(position=2).node_id): {"rating": 0}}},
    )
    assert refused["status"] == 409
    assert refused["body"]["locked"] is True
    assert "can no longer be changed" in refused["body"]["error"]

    # A thought record, submitted, is read-only too, before and after a reload.
    page.goto(f"{base}/projects/{project.pk}/work/")
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    record_url = page.url
    page.keyboard.type("Try $f(2) = \\sqrt{5}$.")
    page.fill("#final-answer", "\\sqrt{5}")
    page.keyboard.press("Control+Enter")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#submit-result")).to_contain_text("Submitted.")
    expect(page.locator("#status-pill")).to_have_text("Submitted")
    expect(page.locator("#thoughts .thought-text").first).to_have_attribute("readonly", "")
    page.goto(record_url)
    expect(page.locator("#read-only")).to_be_visible()
    expect(page.locator("#thoughts .thought-text").first).to_have_attribute("readonly", "")
    expect(page.locator("#thoughts .thought-text").first).to_have_value("Try $f(2) = \\sqrt{5}$.")
    record = Assignment.objects.get(annotator=users["ann"], kind=ItemKind.RECORD)
    refused = api_write(
        page,
        f"{base}/api/work/{record.pk}/draft",
        {"version": record.version, "thoughts": [{"kind": "attempt", "text": "changed"}]},
    )
    assert (refused["status"], refused["body"]["status"]) == (409, "submitted")

    # The reviewer returns the graded trace with a comment, from the keyboard.
    reviewer_context: BrowserContext = new_context()
    reviewer = reviewer_context.new_page()
    log_in(reviewer, base, "rev")
    reviewer.goto(f"{base}/review/traces/{trace.pk}/")
    reviewer.wait_for_function(ALL_RENDERED)
    card = reviewer.locator(".review-card[data-annotator='ann']")
    card.locator("textarea").fill("Step 3 is not wrong: $4 + 1 = 5$ is missing, not false.")
    card.locator("h3").click()  # out of the comment box, the card still the active one
    reviewer.keyboard.press("r")
    expect(reviewer.locator(".message.success")).to_contain_text("ann's work is returned")

    # The annotator sees the comment, changes step 3 to 0, rates the rest and submits.
    page.goto(work_url)
    page.wait_for_function(ALL_RENDERED)
    expect(page.locator("#returned")).to_contain_text("is missing, not false")
    for key in ["j", "j", "2", "3", "3"]:
        page.keyboard.press(key)
    expect(page.locator("#save-status")).to_have_text("All changes saved")
    assert ratings_shown(page) == ["1", "1", "0", "1", "1"]
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{base}/projects/{project.pk}/work/")
    claim.refresh_from_db()
    assert (claim.status, claim.finish_reason) == ("submitted", "solution")

    # The history shows both versions of step 3, each with its author and time.
    reviewer.goto(f"{base}/review/traces/{trace.pk}/")
    card = reviewer.locator(".review-card[data-annotator='ann']")
    card.locator("details.history summary").click()
    step3 = card.locator(".grade-versions tr[data-step='3']")
    expect(step3).to_have_count(2)
    expect(step3.nth(0)).to_contain_text("\N{MINUS SIGN}1")
    expect(step3.nth(0)).to_contain_text("earlier")
    expect(step3.nth(1)).to_contain_text("0")
    expect(step3.nth(1)).to_contain_text("current")
    for row in range(2):
        expect(step3.nth(row)).to_contain_text("by ann")
    events = card.locator(".history-list li")
    expect(events).to_have_count(3)
    expect(events.nth(1)).to_contain_text("Returned by rev")
    versions = list(
        Grade.objects.filter(source__user=users["ann"], node=trace.steps.get(position=2).node)
        .order_by("created_at")
        .values_list("rating", "is_current")
    )
    assert versions == [(-1, False), (0, True)]
    reviewer.screenshot(path="var/screenshots/review-history.png", full_page=True)
    assert page_watch.page_errors == []
