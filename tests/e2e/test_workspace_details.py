"""Small things of the annotator's pages in headless Chromium: the current step survives a
reload, an untouched thought record is not "Unsaved changes" and saves nothing, recent work
items are links."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Project, Role
from annotation.workspace.models import Assignment
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ALL_RENDERED = (
    "() => document.querySelectorAll('.user-content[data-render]:not([data-rendered])')"
    ".length === 0"
)


@pytest.fixture
def project(db):
    project = Project.objects.create(name="details", overlap=1, stop_at_first_bad_step=False)
    MembershipFactory(project=project, user=UserFactory(username="ann"), role=Role.ANNOTATOR)
    problem = ProblemFactory(project=project, text="What is $1 + 1$?", answer="\\frac{4}{2}")
    trace_with_steps(problem, ["One plus one.", "Is $2$.", "So $\\boxed{2}$."])
    return project


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def current_step(page: Page) -> int:
    return page.eval_on_selector_all(
        "#steps > li.step", "items => items.findIndex((li) => li.ariaCurrent === 'true') + 1"
    )


def test_the_current_step_survives_a_reload(live_server, project, page: Page) -> None:
    # given an annotator on step 3 of a trace
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/projects/{project.pk}/work/")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    page.wait_for_function(ALL_RENDERED)
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert current_step(page) == 3
    expect(page).to_have_url(re.compile(r"#step-3$"))
    # when
    page.reload()
    page.wait_for_function(ALL_RENDERED)
    # then
    assert current_step(page) == 3
    # and the ground truth is math, not TeX
    page.click("details.ground-truth summary")
    expect(page.locator(".ground-truth math")).to_have_count(1)


def test_an_untouched_record_saves_nothing(live_server, project, page: Page) -> None:
    # given
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/projects/{project.pk}/work/")
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    expect(page.locator("#thoughts > li")).to_have_count(1)
    # when nothing is typed for longer than the autosave's debounce
    page.wait_for_timeout(1500)
    # then nothing says "Unsaved changes" and nothing was saved
    expect(page.locator("#save-status")).to_be_hidden()
    record = Assignment.objects.get(kind="record")
    assert (record.version, record.draft) == (1, {})
    # but typing is an edit, and is saved
    page.keyboard.type("Two.")
    expect(page.locator("#save-status")).to_have_text("All changes saved")


def test_recent_work_items_are_links(live_server, project, page: Page) -> None:
    # given a skipped item in the annotator's recent work
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/projects/{project.pk}/work/")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/work/(\d+)/$"))
    assignment = Assignment.objects.get()
    page.fill("#skip-reason", "No time.")
    page.locator("form[action$='/skip/'] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/work/")
    # when
    page.get_by_test_id("recent-item").click()
    # then
    page.wait_for_url(f"{live_server.url}/work/{assignment.pk}/")
