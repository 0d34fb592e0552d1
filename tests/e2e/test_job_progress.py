"""The job page in headless Chromium: progress written by a worker shows up without a reload
(htmx polls the status fragment), polling stops when the job ends, and Cancel cancels."""

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

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
