"""A reload right after an edit loses nothing and makes no conflict (issue 27's race): the
page's pending save is sent as it is left (pagehide, keepalive), a page loaded while a save is
in flight waits for it, and a 409 from the page's own earlier save is built on, not shown.

Each test grades step 1, reloads at once, grades step 2, and checks that both grades are
stored and that the conflict dialog never opened. The second holds the assignment's row from
the test, so that the first save is still in flight when the page is reloaded."""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction
from playwright.sync_api import Page, expect

from annotation.core.models import Project, Role
from annotation.workspace.models import Assignment
from tests.e2e.pages import log_in, open_next_item
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 30  # for what the server does on its own threads; no timing is asserted


@pytest.fixture
def project(db):
    project = Project.objects.create(name="reload", overlap=1, stop_at_first_bad_step=False)
    MembershipFactory(project=project, user=UserFactory(username="ann"), role=Role.ANNOTATOR)
    problem = ProblemFactory(project=project, text="What is $1 + 1$?", answer="2")
    trace_with_steps(problem, ["One plus one.", "Is two.", "So $\\boxed{2}$."])
    return project


def open_claim(page: Page, base: str, project: Project) -> Assignment:
    log_in(page, base, "ann")
    open_next_item(page, base, project.pk)
    return Assignment.objects.get(kind="grade")


def rate_good(page: Page, position: int) -> None:
    page.locator("#steps > li.step").nth(position).locator("[data-rating='1']").click()


def wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def good_grades(claim: Assignment) -> int:
    draft = Assignment.objects.get(pk=claim.pk).draft
    return sum(1 for grade in (draft.get("grades") or {}).values() if grade.get("rating") == 1)


def waiting_for_row_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return int(cursor.fetchone()[0])


def then_both_grades_are_kept(page: Page, claim: Assignment) -> None:
    wait_until(lambda: good_grades(claim) == 2, "both grades in the stored draft")
    expect(page.locator("#save-status")).to_have_attribute("data-status", "saved")
    assert page.evaluate("() => document.getElementById('conflict-dialog').open") is False
    page.reload()
    expect(page.locator("#steps > li.step[data-grade='1']")).to_have_count(2)


def test_a_reload_right_after_an_edit_then_a_change_saves_both(
    live_server, project, page: Page
) -> None:
    # given
    claim = open_claim(page, live_server.url, project)
    # when: a grade, a reload before its save (the debounce) is due, then another grade
    rate_good(page, 0)
    page.reload()
    rate_good(page, 1)
    # then
    then_both_grades_are_kept(page, claim)


def test_a_reload_while_a_save_is_in_flight_then_a_change_saves_both(
    live_server, project, page: Page
) -> None:
    # given
    claim = open_claim(page, live_server.url, project)
    with transaction.atomic():
        Assignment.objects.select_for_update().get(pk=claim.pk)  # the first save waits for it
        # when: a grade whose save reached the server, and a reload while it is held there
        rate_good(page, 0)
        wait_until(lambda: waiting_for_row_locks() >= 1, "the save to wait for the row")
        page.evaluate("() => setTimeout(() => window.location.reload(), 0)")
        # the reloaded page's request (or, without the fix, its first save) waits too
        wait_until(lambda: waiting_for_row_locks() >= 2, "the reload to reach the row")
    page.wait_for_load_state("load")
    expect(page.locator("#steps > li.step")).to_have_count(3)
    rate_good(page, 1)
    # then
    then_both_grades_are_kept(page, claim)
