"""PRM800K's phase-1 labeling in the grading page, on a real PRM800K phase-1 row: rate the
alternatives at a step, choose one to continue, write one's own step; the PRM800K export of
that work is, field by field, the row PRM800K's schema would hold of it."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Project, Role
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.datasets.export.prm800k_rows import labeler_id, prm800k_timestamp
from annotation.datasets.importer import import_dataset
from annotation.workspace.models import Assignment
from tests.e2e.pages import ALL_RENDERED, log_in, open_next_item
from tests.factories import MembershipFactory, UserFactory
from tests.support.prm800k import OWN_STEP, PHASE1, expected_row, trl_prm800k_conversion

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project(db):
    project = Project.objects.create(name="phase 1", stop_at_first_bad_step=False)
    MembershipFactory(project=project, user=UserFactory(username="ann"), role=Role.ANNOTATOR)
    line = json.dumps(PHASE1).encode() + b"\n"
    import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(line))
    return project


def shown(page: Page) -> list[list[str | None]]:
    """(number, on path, rating) of each step on the page."""
    return page.eval_on_selector_all(
        "#steps > li.step",
        "items => items.map((li) => [li.dataset.number, li.dataset.onPath, "
        "li.getAttribute('data-grade')])",
    )


def test_phase_1_labeling_of_a_real_prm800k_row(
    live_server, project, page_watch: PageWatch, tmp_path
) -> None:
    page = page_watch.page
    base = live_server.url
    log_in(page, base, "ann")
    open_next_item(page, base, project.pk)
    # The page shows each step with the alternatives offered there.
    assert [(n, on) for n, on, _ in shown(page)] == [
        ("1", "true"),
        ("2", "true"),  # the human completion the labeler wrote
        *[(f"2.{o}", "false") for o in range(1, 6)],
        ("3", "true"),
        ("4", "true"),
        ("5", "true"),
        ("6", "true"),  # the completion the labeler chose (their option 5) ...
        *[(f"6.{o}", "false") for o in range(1, 5)],  # ... and the four others
    ]

    # The annotator rates every step and alternative with the keyboard.
    keys = ["3", "3"]  # step 1, the human step 2
    keys += ["1", "j"] * 5  # the five alternatives at step 2 are bad
    keys += ["3", "3", "3"]  # steps 3 to 5
    keys += ["1", "j"]  # the labeler's choice at step 6: bad (it repeats the answer twice)
    keys += ["2", "3", "3", "3"]  # the other four at step 6
    for key in keys:
        page.keyboard.press(key)
    expect(page.locator("#save-status")).to_have_text("All changes saved")
    assert [g for _, _, g in shown(page)] == [
        "1",
        "1",
        *["-1"] * 5,
        "1",
        "1",
        "1",
        "-1",
        "0",
        "1",
        "1",
        "1",
    ]

    # ... chooses the second alternative at step 6 to continue ...
    page.keyboard.press("k")
    page.keyboard.press("k")
    expect(page.locator("#steps > li[aria-current='true']")).to_have_attribute("data-number", "6.2")
    page.keyboard.press("c")  # the first press says what the choice replaces
    expect(page.locator("#steps > li[aria-current='true'] [data-testid=choose-note]")).to_have_text(
        "Continuing with alternative 6.2 replaces step 6; their grades leave your path until "
        "you undo it (z). "
        "Press c again to confirm, or move away to keep your path."
    )
    with page.expect_navigation():
        page.keyboard.press("c")
    page.wait_for_function(ALL_RENDERED)
    path = page.eval_on_selector_all(
        "#steps > li[data-on-path='true']", "l => l.map((li) => li.dataset.number)"
    )
    assert path == ["1", "2", "3", "4", "5", "6"]
    expect(page.locator("#steps > li[data-on-path='true']").last).to_contain_text(
        "So a pencil costs"
    )

    # ... writes their own last step ...
    page.fill("#next-step-text", OWN_STEP)
    with page.expect_navigation():
        page.click("#next-step-save")
    page.wait_for_function(ALL_RENDERED)
    own = page.locator("#steps > li[data-written]")
    expect(own).to_have_attribute("data-number", "7")
    expect(own).to_contain_text("Your step")
    page.screenshot(path="var/screenshots/phase1.png", full_page=True)

    # ... and submits: every step of their path is rated but their own.
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{base}/projects/{project.pk}/work/")
    claim = Assignment.objects.get(annotator__username="ann")
    assert (claim.status, claim.finish_reason) == ("submitted", "solution")

    # The PRM800K export of that work is PRM800K's row of it.
    export_to_directory(
        project=project, options=ExportOptions(format="prm800k"), directory=tmp_path
    )
    rows = [
        json.loads(line) for line in (tmp_path / "prm800k-train.jsonl").read_text().splitlines()
    ]
    ann = labeler_id(project.pk, "user:ann")  # opaque, never the username
    mine = next(r for r in rows if r["labeler"] == ann)
    expected = expected_row(
        labeler=ann,
        timestamp=prm800k_timestamp(claim.submitted_at),
        total_time=claim.time_spent_ms,
    )
    assert mine == expected
    assert next(r for r in rows if r["labeler"] != ann) == PHASE1
    # TRL's public PRM800K conversion reads it: the alternative chosen and the own step.
    assert len(trl_prm800k_conversion(mine)) == 10  # a row per completion not chosen + the path
    assert page_watch.page_errors == []


@pytest.fixture
def grading(live_server, project, page_watch: PageWatch) -> Page:
    """The annotator on the trace's grading page."""
    page = page_watch.page
    log_in(page, live_server.url, "ann")
    open_next_item(page, live_server.url, project.pk)
    return page


def test_choosing_an_early_alternative_says_what_it_drops_and_an_unfinished_path_is_no_solution(
    live_server, project, grading: Page, page_watch: PageWatch
) -> None:
    page, base = grading, live_server.url
    # the annotator goes to alternative 2.1 and presses c: the page says what it drops
    for _ in range(2):
        page.keyboard.press("j")
    current = page.locator("#steps > li[aria-current='true']")
    expect(current).to_have_attribute("data-number", "2.1")
    page.keyboard.press("c")
    expect(current.locator("[data-testid=choose-note]")).to_contain_text(
        "replaces step 2 and drops steps 3 to 6 after it"
    )
    assert page.locator("#steps > li[data-on-path='true']").count() == 6  # nothing changed yet
    # moving away keeps the path; choosing it for real makes a path of two steps
    with page.expect_navigation():
        page.keyboard.press("c")
    page.wait_for_function(ALL_RENDERED)
    expect(page.locator("#steps > li[data-on-path='true']")).to_have_count(2)
    expect(page.get_by_test_id("no-final-answer")).to_be_visible()
    # rating both steps does not make it a solution, and Solution is refused with the reason
    page.locator("#steps > li[data-on-path='true'] .grade-good").first.click()
    page.locator("#steps > li[data-on-path='true'] .grade-good").last.click()
    page.keyboard.press("Alt+1")
    expect(page.locator("#submit-error")).to_contain_text("ends without a final answer")
    expect(page.locator("[data-finish=solution]")).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#submit-error")).to_contain_text("Rate every step, or choose")
    # give up, by its key, is accepted
    page.keyboard.press("Alt+4")
    expect(page.locator("[data-finish=give_up]")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{base}/projects/{project.pk}/work/")
    claim = Assignment.objects.get(annotator__username="ann")
    assert (claim.status, claim.finish_reason) == ("submitted", "give_up")
    assert page_watch.page_errors == []


def test_undoing_an_alternative_choice_brings_back_the_original_steps(
    grading: Page, page_watch: PageWatch
) -> None:
    page = grading
    # the annotator rates steps 1 and 2, then continues with alternative 2.1 (pressing c twice)
    for key in ["3", "3"]:
        page.keyboard.press(key)
    expect(page.locator("#save-status")).to_have_text("All changes saved")
    before = shown(page)
    expect(page.locator("#steps > li[aria-current='true']")).to_have_attribute("data-number", "2.1")
    page.keyboard.press("c")
    with page.expect_navigation():
        page.keyboard.press("c")
    page.wait_for_function(ALL_RENDERED)
    expect(page.locator("#steps > li[data-on-path='true']")).to_have_count(2)
    expect(page.get_by_test_id("departure")).to_contain_text(
        "Your path leaves the trace's at step 2; undo brings back its steps 2 to 6"
    )
    # when they press z (Undo)
    with page.expect_navigation():
        page.keyboard.press("z")
    page.wait_for_function(ALL_RENDERED)
    # then the trace's six steps and its alternatives are back, with the grades they gave
    assert shown(page) == before
    expect(page.get_by_test_id("departure")).to_have_count(0)
    expect(page.get_by_test_id("no-final-answer")).to_have_count(0)
    claim = Assignment.objects.get(annotator__username="ann")
    assert len(claim.draft["grades"]) == 2
    assert page_watch.page_errors == []
