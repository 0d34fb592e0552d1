"""The training pages in headless Chromium against the real server and PostgreSQL, under the
site's Content-Security-Policy (a violation fails the test): the run page with its loss and
learning-rate plots, the lineage page indenting each generation by a stylesheet (no inline
style), and the results page of an evaluation."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Project, Role
from annotation.jobs.models import Job, JobStatus
from annotation.jobs.services import job_claim, job_finish
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create
from annotation.training.models import TrainingLogEntry
from annotation.training.services import (
    evaluation_job_start,
    trained_model_register,
    training_job_start,
    training_log_write,
)
from tests.factories import MembershipFactory, UserFactory
from tests.support.data import prompt
from tests.support.training import export_now, training_project

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"


@pytest.fixture
def setup(db, settings, tmp_path):
    """A base model, an SFT model trained from it and one trained from that; a run at step 2
    of 4 with two logged steps; an evaluation of the three models."""
    settings.MEDIA_ROOT = tmp_path / "media"
    project = Project.objects.create(name="training e2e")
    researcher = UserFactory(username="res")
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    training_project(project, count=3)
    journeys = export_now(project, "sft-journey", held_out=("p2",))
    base = model_config_create(
        project=project, name="base", kind="transformers", path_or_endpoint="/models/base"
    )
    models = [base]
    for name in ("sft", "sft again"):
        job = training_job_start(
            project=project,
            user=researcher,
            method="sft",
            export=journeys,
            base=models[-1],
            name=name,
        )
        models.append(trained_model_register(job=job, path=f"/models/{name}"))
    run = training_job_start(
        project=project, user=researcher, method="sft", export=journeys, base=base, name="run"
    )
    Job.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, done=2, total=4)
    training_log_write(
        run,
        [
            TrainingLogEntry(step=s, loss=2.0 - s / 4, learning_rate=1e-5 * s, attempt_seconds=s)
            for s in (1, 2)
        ],
    )
    evaluation = evaluation_job_start(
        project=project,
        user=researcher,
        models=models,
        prompt=prompt(project, PromptPurpose.SAMPLE),
        export=journeys,
        k=2,
    )
    return project, models, run, evaluation


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_run_lineage_and_results_pages_keep_the_policy(live_server, setup, page_watch: PageWatch):
    project, (base, _, again), run, evaluation = setup
    page = page_watch.page
    log_in(page, live_server.url, "res")
    # the project page links to the training page, which lists the run and the evaluation
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("text=Training and results")
    page.wait_for_url(re.compile(r"/training/$"))
    expect(page.get_by_test_id("training-runs").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("evaluations").locator("tbody tr")).to_have_count(1)

    # the run page plots the loss and the learning rate, drawn on the server
    page.goto(f"{live_server.url}/training/jobs/{run.pk}/")
    expect(page.get_by_test_id("steps")).to_have_text("step 2 of 4")
    expect(page.locator("figure.plot-figure svg")).to_have_count(2)

    # the lineage page of the base indents the second generation more than the first
    page.goto(f"{live_server.url}/training/models/{base.pk}/lineage/")
    descendants = page.get_by_test_id("descendants").locator("li")
    expect(descendants).to_have_count(2)
    first, second = (
        descendants.nth(i).evaluate("e => parseFloat(getComputedStyle(e).marginLeft)")
        for i in range(2)
    )
    assert 0 <= first < second

    # the results page has a row per model, in the order given
    page.goto(f"{live_server.url}/training/evaluations/{evaluation.pk}/")
    rows = page.get_by_test_id("results").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(2).locator("td").first).to_have_text(again.label)
    assert page_watch.page_errors == []


def test_a_run_and_an_evaluation_reach_their_end_without_a_reload_and_without_cancel(
    live_server, setup, page_watch: PageWatch
):
    # given the run at step 2 of 4 and the queued evaluation, each watched on its page
    _, models, run, evaluation = setup
    page = page_watch.page
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/training/jobs/{run.pk}/")
    page.evaluate("() => { window.__sameDocument = true; }")
    expect(page.get_by_test_id("job-cancel")).to_be_visible()
    # when the worker logs the last steps and the run ends
    training_log_write(
        run,
        [TrainingLogEntry(step=s, loss=1.0, learning_rate=1e-5, attempt_seconds=s) for s in (3, 4)],
    )
    Job.objects.filter(pk=run.pk).update(done=4)
    run.refresh_from_db()
    job_finish(run, result={"global_step": 4, "final_loss": 1.0})
    # then the page shows the end by itself, without Cancel
    expect(page.get_by_test_id("job-state")).to_have_text("Succeeded")
    expect(page.get_by_test_id("steps")).to_have_text("step 4 of 4")
    expect(page.get_by_test_id("hyperparameters")).to_contain_text("Learning rate")
    expect(page.get_by_test_id("job-cancel")).to_have_count(0)
    assert page.evaluate("() => window.__sameDocument") is True

    # given the evaluation's page while it waits for a worker
    page.goto(f"{live_server.url}/training/evaluations/{evaluation.pk}/")
    page.evaluate("() => { window.__sameDocument = true; }")
    expect(page.get_by_test_id("job-state")).to_have_text("Queued")
    expect(page.get_by_test_id("job-cancel")).to_be_visible()
    # when a worker takes it and it ends
    claimed = job_claim(evaluation.pk)
    assert claimed is not None
    job_finish(claimed, result={})
    # then the page shows the end by itself, without Cancel
    expect(page.get_by_test_id("job-state")).to_have_text("Succeeded")
    expect(page.get_by_test_id("job-cancel")).to_have_count(0)
    expect(page.get_by_test_id("results").locator("tbody tr")).to_have_count(len(models))
    assert page.evaluate("() => window.__sameDocument") is True
    assert page_watch.page_errors == []
