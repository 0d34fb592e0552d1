"""An admin imports a file through the upload page; a real worker runs the job."""

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Role
from annotation.problems.models import Trace
from tests.conftest import PRM800K_DIR
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.support.worker import WorkerProcess


@pytest.fixture
def worker(transactional_db: None, shared_worker: WorkerProcess) -> WorkerProcess:
    return shared_worker


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_upload_page_imports_through_a_job_with_progress(live_server, worker, page: Page):
    # given
    project = ProjectFactory(name="uploads")
    MembershipFactory(project=project, user=UserFactory(username="boss"), role=Role.ADMIN)
    log_in(page, live_server.url, "boss")
    # when
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.select_option("select[name=format]", "prm800k")
    page.set_input_files("input[name=file]", str(PRM800K_DIR / "prm800k_raw_samples.jsonl"))
    page.click("#import-form button[type=submit]")
    # then: the job page follows the job until it ends
    expect(page.get_by_test_id("job-state")).to_have_text("Succeeded", timeout=60_000)
    expect(page.locator("#job-status")).to_contain_text("6 of 6")
    assert Trace.objects.filter(problem__project=project).count() == 6


def test_a_bad_file_fails_with_its_line_and_field(live_server, worker, page: Page):
    project = ProjectFactory(name="uploads")
    MembershipFactory(project=project, user=UserFactory(username="boss"), role=Role.ADMIN)
    log_in(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.select_option("select[name=format]", "processbench")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "bad.json", "mimeType": "application/json", "buffer": b'[{"id": 1}]'}],
    )
    page.click("#import-form button[type=submit]")
    expect(page.get_by_test_id("job-state")).to_have_text("Failed", timeout=60_000)
    expect(page.locator("#job-status .message")).to_have_text(
        "line 1: field steps: is missing; nothing was imported"
    )
    assert Trace.objects.count() == 0
