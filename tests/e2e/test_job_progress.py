"""The job page in headless Chromium: progress written by a worker shows up without a reload
(htmx polls the page's live part), polling stops when the job ends, Cancel cancels, and a job
that ends shows its outputs and loses Cancel without a reload."""

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from tests.factories import (
    MembershipFactory,
    ProblemFactory,
    ProjectFactory,
    UserFactory,
    trace_with_steps,
)

pytestmark = pytest.mark.e2e


def test_progress_updates_live_and_cancel_works(live_server, transactional_db, page: Page) -> None:
    # given a running expansion job and the researcher who started it looking at it
    project = ProjectFactory()
    user = UserFactory(username="rita")
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    job = Job.objects.create(
        project=project,
        kind=JobKind.EXPAND,
        status=JobStatus.RUNNING,
        done=0,
        total=4,
        created_by=user,  # only its creator and admins may cancel it
    )
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/llm/jobs/{job.pk}/")
    expect(page.locator("#job-status")).to_contain_text("0 of 4")
    # when the worker reports progress
    Job.objects.filter(pk=job.pk).update(done=3)
    # then the page shows it without a reload
    expect(page.locator("#job-status")).to_contain_text("3 of 4")
    # and a cancel of a job whose worker is gone ends it
    Job.objects.filter(pk=job.pk).update(heartbeat_at="2000-01-01T00:00:00Z")
    page.click("button[data-key=x]")
    expect(page.get_by_test_id("job-state")).to_have_text("Cancelled")
    job.refresh_from_db()
    assert (job.status, job.cancel_requested, job.done) == (JobStatus.CANCELLED, True, 3)


def test_a_finished_job_shows_its_outputs_and_loses_cancel_without_a_reload(
    live_server, transactional_db, page: Page
) -> None:
    # given a sample job whose worker is loading the model, watched by its researcher
    project = ProjectFactory()
    user = UserFactory(username="rita")
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    problem = ProblemFactory(project=project, external_id="p1", text="What is $1 + 1$?")
    job = Job.objects.create(
        project=project,
        kind=JobKind.SAMPLE,
        status=JobStatus.RUNNING,
        total=1,
        phase="Loading the model tiny@v1 (transformers)",
        created_by=user,
    )
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.evaluate("() => { window.__notReloaded = true; }")
    expect(page.get_by_test_id("job-phase")).to_have_text(
        "Loading the model tiny@v1 (transformers)…"
    )
    expect(page.get_by_test_id("job-cancel")).to_be_visible()
    expect(page.get_by_test_id("outputs-pending")).to_be_visible()
    # when the worker writes a sample and finishes the job
    trace = trace_with_steps(
        problem, ["So $x = \\frac{1}{2}$."], origin="model_sample", job=job, external_id="s:0"
    )
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        done=1,
        phase="",
        result={"traces": 1, "generation_seconds": 0.25, "tokens_per_second": 40.0},
    )
    # then, without a reload: succeeded, the output with its math, the result table, no Cancel
    expect(page.get_by_test_id("job-state")).to_have_text("Succeeded")
    expect(page.get_by_test_id("output")).to_have_count(1)
    expect(page.get_by_test_id("output")).to_contain_text(f"Output #{trace.pk}")
    expect(page.get_by_test_id("output").locator("math")).to_have_count(2)  # problem, step
    expect(page.locator("[data-result=generation_seconds] td")).to_have_text("0.25 s")
    expect(page.get_by_test_id("job-cancel")).to_have_count(0)
    expect(page.get_by_test_id("job-phase")).to_have_count(0)
    assert page.evaluate("() => window.__notReloaded") is True
    # and the page stops asking
    assert page.locator("#job-live").get_attribute("hx-get") is None
