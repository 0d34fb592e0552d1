"""Time on an item in the browser: the time before a reload and the wait for the model's
continuation are counted by the server (annotation/workspace/services/time_on_item.py), and the
PRM800K export's `total_time` is that time.

The page's clock is Playwright's, paused: it moves only when the test runs it, so what the
page counts is known. The server still bounds each flush by its own wall time since the
previous one; the test sets the previous flush back ten minutes ("given the annotator has been
on the item a while") before each flush it expects to count."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone
from playwright.sync_api import Page, Route, expect

from annotation.core.models import Project, Role
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.jobs.models import Job, JobKind
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.e2e.pages import ALL_RENDERED, log_in
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps
from tests.support.data import generator_config
from tests.support.models import tiny_model
from tests.support.prm800k import trl_prm800k_conversion
from tests.support.worker import WorkerProcess, finished, wait_until

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.worker,
    pytest.mark.models,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    tiny_model("lm")
    return shared_worker


@pytest.fixture
def claim(transactional_db: None) -> Assignment:
    project = Project.objects.create(name="time", stop_at_first_bad_step=False)
    project.continuation_model = generator_config(project, "transformers")
    project.save()
    annotator = UserFactory(username="ann")
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    problem = ProblemFactory(project=project, text="What is 2 + 3?", answer="5")
    trace_with_steps(problem, ["We add 2 and 3.", "2 + 3 = 5.", "The answer is 5."])
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    assert claim is not None
    return claim


def set_back_last_flush(claim: Assignment) -> None:
    at = timezone.now() - timedelta(minutes=10)
    Assignment.objects.filter(pk=claim.pk).update(claimed_at=at, time_counted_at=at)


def time_on_item(claim: Assignment) -> int:
    return Assignment.objects.values_list("time_spent_ms", flat=True).get(pk=claim.pk)


def counted_at_least(claim: Assignment, ms: int) -> None:
    wait_until(lambda: time_on_item(claim) >= ms, 30, what=f"{ms} ms counted on the item")


def first_held(page: Page, held: list[Route]) -> Route:
    """The first request the route holds, once the page has sent it (its fetch may still be
    on the way when the page's timer has fired). Playwright runs the route's handler only
    while the test calls it, so the poll waits in Playwright (on the driver's clock, not the
    page's paused one)."""
    wait_until(
        lambda: bool(held),
        60,
        what="the page's continuation request",
        check=lambda: page.wait_for_timeout(100),
    )
    return held[0]


def test_a_reload_and_a_model_continuation_keep_counting(
    live_server, worker, claim, page_watch: PageWatch, tmp_path
) -> None:
    page = page_watch.page
    base = live_server.url
    page.clock.install()
    log_in(page, base, "ann")
    page.goto(f"{base}/work/{claim.pk}/")
    page.wait_for_function(ALL_RENDERED)
    page.clock.pause_at(timezone.now() + timedelta(hours=1))
    set_back_last_flush(claim)

    # the annotator rates the first step, then reads for 45 s, then reloads the page
    page.keyboard.press("3")
    page.clock.run_for(45_000)
    # the rating's save has answered before the reload: a save landing after the reloaded
    # page read the draft's version would make its next change a version conflict (409)
    expect(page.locator("#save-status")).to_have_text("All changes saved")
    page.reload()
    page.wait_for_function(ALL_RENDERED)
    counted_at_least(claim, 45_000)

    # they let the model continue from step 2 and wait 35 s for it (holding no key)
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(re.compile(r"/api/work/\d+/continuation$"), hold)
    expect(page.locator("#steps > li[aria-current='true']")).to_have_attribute("data-number", "2")
    with page.expect_navigation():
        page.keyboard.press("m")
    expect(page.locator("#continuing")).to_be_visible()
    finished(Job.objects.get(kind=JobKind.CONTINUE), worker)
    set_back_last_flush(claim)
    page.clock.run_for(35_000)
    # the page asked how the model is doing one second in; its answer comes now: ready
    continuation = first_held(page, held)
    with page.expect_navigation():
        continuation.continue_()
    page.unroute(re.compile(r"/api/work/\d+/continuation$"))
    page.wait_for_function(ALL_RENDERED)
    expect(page.locator("#continuing")).to_have_count(0)
    counted_at_least(claim, 45_000 + 35_000)

    # they find step 2 wrong and submit; the PRM800K row's total_time is the time counted
    page.locator("#steps > li.step").nth(1).locator("[data-rating='-1']").click()
    page.click("#submit")  # (the page's clock stands still: the submit saves the rating)
    page.wait_for_url(f"{base}/projects/{claim.project_id}/work/")
    claim.refresh_from_db()
    assert claim.status == "submitted"
    assert claim.time_spent_ms >= 80_000
    export_to_directory(
        project=claim.project, options=ExportOptions(format="prm800k"), directory=tmp_path
    )
    rows = [
        json.loads(line) for line in (tmp_path / "prm800k-train.jsonl").read_text().splitlines()
    ]
    assert [row["label"]["total_time"] for row in rows] == [claim.time_spent_ms]
    # and TRL's public conversion reads that row of work graded in the browser, error and all
    path = trl_prm800k_conversion(rows[0])[-1]
    assert rows[0]["label"]["finish_reason"] == "found_error"
    assert path["labels"][:2] == [True, False]
    assert page_watch.page_errors == []
