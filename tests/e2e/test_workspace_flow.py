"""The annotator workspace in headless Chromium against the real server and PostgreSQL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from annotation.core.models import Project, Role
from annotation.grading.models import Grade
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import Trace
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.saves import grading_submit
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps
from workers.tasks import run_job

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"
ALL_RENDERED = (
    "() => document.querySelectorAll('.user-content[data-render]:not([data-rendered])')"
    ".length === 0"
)
FIVE_STEPS = [
    "Let $x = 2$, so we need $f(2)$.",
    "Then $x^2 = 4$.",
    "So $x^2 + 1 = 5$.",
    "Hence $\\sqrt{x^2+1} = \\sqrt{5}$.",
    "The answer is $\\boxed{\\sqrt{5}}$.",
]
SCREENSHOTS = "var/screenshots"


@pytest.fixture
def setup(db):
    project = Project.objects.create(
        name="e2e", overlap=2, stop_at_first_bad_step=True, guidelines="Grade **each** step; $a^2$."
    )
    users = {}
    for name, role in [("ann", Role.ANNOTATOR), ("bea", Role.ANNOTATOR), ("rev", Role.REVIEWER)]:
        users[name] = UserFactory(username=name)
        MembershipFactory(project=project, user=users[name], role=role)
    problem = ProblemFactory(
        project=project, text="Let $f(x)=\\sqrt{x^2+1}$. Find $f(2)$.", answer="\\sqrt{5}"
    )
    trace = trace_with_steps(problem, FIVE_STEPS)
    return project, users, trace


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def ratings_shown(page: Page) -> list[str | None]:
    return page.eval_on_selector_all(
        "#steps > li.step", "items => items.map((li) => li.getAttribute('data-grade'))"
    )


def test_annotate_record_and_review(
    live_server, setup, page_watch: PageWatch, context: BrowserContext
):
    project, users, trace = setup
    page = page_watch.page
    base = live_server.url
    log_in(page, base, "ann")

    # The annotator grades the 5 steps with the keyboard alone.
    page.goto(f"{base}/projects/{project.pk}/work/")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    page.wait_for_function(ALL_RENDERED)
    expect(page.locator("#steps math").first).to_be_visible()  # KaTeX MathML
    for key in ["3", "3", "2", "k", "u", "j", "3", "1"]:
        page.keyboard.press(key)
    expect(page.locator("#save-status")).to_have_text("All changes saved")
    page.screenshot(path=f"{SCREENSHOTS}/grading.png", full_page=True)
    assert ratings_shown(page) == ["1", "1", "0", "1", "-1"]

    # ... reloads and sees the grades.
    page.reload()
    page.wait_for_function(ALL_RENDERED)
    assert ratings_shown(page) == ["1", "1", "0", "1", "-1"]
    expect(page.locator("#steps > li").nth(2)).to_have_attribute("data-unsure", "")
    expect(page.locator("#steps > li").nth(4).locator("[data-rating='-1']")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("[data-finish='found_error']")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{base}/projects/{project.pk}/work/")
    claim = Assignment.objects.get(annotator=users["ann"], kind=ItemKind.GRADE)
    assert (claim.status, claim.finish_reason) == ("submitted", "found_error")
    assert claim.time_spent_ms >= 0
    assert sorted(
        Grade.objects.filter(source__user=users["ann"], is_current=True).values_list(
            "rating", flat=True
        )
    ) == [-1, 0, 1, 1, 1]

    # The annotator records a thought process with a backtrack and an explanation.
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    page.keyboard.type("Try $f(2) = 2^2 + 1 = 5$.")
    page.keyboard.press("Alt+Enter")  # a reflection
    page.keyboard.press("Alt+k")  # -> backtrack to thought 1
    page.keyboard.type("I forgot the square root; abandon that.")
    page.keyboard.press("Alt+Enter")
    for _ in range(3):
        page.keyboard.press("Alt+k")  # reflection -> backtrack -> correction -> explanation
    page.keyboard.type("The square root of a sum is not the sum of square roots.")
    page.keyboard.press("Alt+Enter")
    for _ in range(4):
        page.keyboard.press("Alt+k")  # -> conclusion
    page.keyboard.type("So $f(2) = \\sqrt{5}$.")
    page.fill("#final-answer", "\\sqrt{5}")
    expect(page.locator("#thoughts > li")).to_have_count(4)
    kinds = page.eval_on_selector_all("#thoughts > li", "l => l.map((li) => li.dataset.kind)")
    assert kinds == ["attempt", "backtrack", "explanation", "conclusion"]
    expect(page.locator("#thoughts > li").nth(1).locator(".backtrack-to")).to_have_value("1")
    page.screenshot(path=f"{SCREENSHOTS}/record.png", full_page=True)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#checklist")).to_be_visible()
    page.keyboard.press("Space")  # the first box has the focus
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#submit-result")).to_contain_text("matches the ground truth")
    record = Trace.objects.get(origin="thought_record")
    assert list(record.steps.order_by("position").values_list("node__kind", "backtrack_to")) == [
        ("attempt", None),
        ("backtrack", 0),
        ("explanation", None),
        ("conclusion", None),
    ]
    assert record.is_correct is True

    # A second annotator's grades, through the service.
    other = assignment_claim_next(project=project, user=users["bea"], kind=ItemKind.GRADE)
    nodes = [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]
    grading_submit(
        assignment=other,
        version=1,
        draft={"grades": {n: {"rating": 1} for n in nodes}},
        finish_reason="solution",
    )

    # The reviewer sees both and accepts one.
    reviewer_page = context.new_page()
    context.clear_cookies()
    log_in(reviewer_page, base, "rev")
    reviewer_page.goto(f"{base}/projects/{project.pk}/review/")
    expect(reviewer_page.get_by_text(f"Grades of trace {trace.pk}")).to_be_visible()
    expect(
        reviewer_page.get_by_text(f"Thought record on problem {record.problem_id}")
    ).to_be_visible()
    reviewer_page.click(f"text=Grades of trace {trace.pk}")
    reviewer_page.wait_for_function(ALL_RENDERED)
    headers = reviewer_page.eval_on_selector_all(
        ".review-table th", "l => l.map((t) => t.textContent)"
    )
    assert headers == ["#", "Step", "ann", "bea"]
    last_row = reviewer_page.locator(".review-table tbody tr").nth(4).locator(".grade-badge")
    expect(last_row).to_have_text(["\N{MINUS SIGN}1", "+1"])
    reviewer_page.screenshot(path=f"{SCREENSHOTS}/review.png", full_page=True)
    card = reviewer_page.locator(".review-card[data-annotator='bea']")
    card.locator("textarea").fill("Missed nothing; all steps are right.")
    card.get_by_role("button", name="Accept").click()
    expect(reviewer_page.locator(".message.success")).to_contain_text("bea's work is accepted")
    other.refresh_from_db()
    assert (other.review_status, other.reviewer) == ("accepted", users["rev"])
    reviewer_page.goto(f"{base}/review/records/{record.record_assignment.pk}/")
    reviewer_page.wait_for_function(ALL_RENDERED)
    expect(reviewer_page.get_by_text("abandons thought 1")).to_be_visible()
    assert page_watch.page_errors == []


def test_second_window_gets_the_conflict(live_server, setup, new_context):
    project, users, _trace = setup
    claim = assignment_claim_next(project=project, user=users["ann"], kind=ItemKind.GRADE)
    base = live_server.url
    pages = []
    contexts = [new_context() for _ in range(2)]
    for ctx in contexts:
        page = ctx.new_page()
        log_in(page, base, "ann")
        page.goto(f"{base}/work/{claim.pk}/")
        page.wait_for_function(ALL_RENDERED)
        pages.append(page)
    first, second = pages

    # when the first window saves
    first.keyboard.press("3")
    expect(first.locator("#save-status")).to_have_text("All changes saved")

    # and the second, still on version 1, saves too
    second.keyboard.press("1")

    # then the second is told, with the other version shown
    dialog = second.locator("#conflict-dialog")
    expect(dialog).to_be_visible()
    expect(second.locator("#conflict-message")).to_contain_text(
        "This work was saved from another window (version 2)"
    )
    expect(second.locator("#conflict-theirs li").first).to_have_text("Step 1: +1")
    expect(second.locator("#save-status")).to_have_attribute("data-status", "conflict")
    assert Grade.objects.get(source__user=users["ann"], is_current=True).rating == 1

    # taking theirs reloads their grades
    second.click("#conflict-take")
    second.wait_for_function(ALL_RENDERED)
    assert ratings_shown(second) == ["1", None, None, None, None]


def test_a_reviewer_reads_agreement_and_quality_without_changing_them(
    live_server, setup, page_watch: PageWatch
):
    # given two annotators who graded the trace, one disagreeing on its last step
    project, users, trace = setup
    project.stop_at_first_bad_step = False
    project.save()
    nodes = [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]
    for name, last in [("ann", -1), ("bea", 1)]:
        claim = assignment_claim_next(project=project, user=users[name], kind=ItemKind.GRADE)
        ratings = {n: {"rating": 1} for n in nodes[:-1]} | {nodes[-1]: {"rating": last}}
        grading_submit(
            assignment=claim,
            version=1,
            draft={"grades": ratings},
            finish_reason="found_error" if last == -1 else "solution",
        )
    page = page_watch.page
    base = live_server.url
    # when the reviewer opens the dashboard from the project page
    log_in(page, base, "rev")
    page.goto(f"{base}/projects/{project.pk}/")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"{base}/projects/{project.pk}/dashboard/")
    # then they compute the agreement (a job: its task's body runs here) and read its figures,
    # and nothing on the page changes a standing
    expect(page.get_by_test_id("read-only")).to_be_visible()
    figures = page.locator(".figures .figure")
    expect(figures.first).to_have_text("2 / 2")
    alpha = page.locator(".figures > div", has_text="Krippendorff").locator(".figure")
    expect(alpha).to_have_text("—")
    page.get_by_test_id("analysis-refresh").click()
    page.wait_for_url(f"{base}/projects/{project.pk}/dashboard/")
    run_job.run(Job.objects.get(project=project, kind=JobKind.AGREEMENT).pk)
    page.reload()
    expect(alpha).not_to_have_text("—")
    assert page.locator("form[action*='standing'] button").count() == 0
    rows = page.locator("tbody tr bdi")
    expect(rows).to_have_text(["ann", "bea"])
    # and the screening and QC settings, read-only
    page.get_by_role("link", name="Screening and QC").first.click()
    page.wait_for_url(f"{base}/projects/{project.pk}/quality/")
    expect(page.get_by_test_id("read-only")).to_be_visible()
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    assert page_watch.page_errors == []
