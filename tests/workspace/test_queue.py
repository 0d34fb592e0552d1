"""The human queue holds what a person chose to send: model outputs only when a researcher
sends them (or the project says every job's outputs go there)."""

import json

import pytest

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.problems.models import Origin
from annotation.workspace.models import ItemKind, QueuedTrace
from annotation.workspace.selectors import queue_counts
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, ProblemFactory, trace_with_steps


@pytest.fixture
def outputs(project):
    """A finished sample job with two outputs (one correct), and an imported trace."""
    job = Job.objects.create(project=project, kind=JobKind.SAMPLE, status=JobStatus.SUCCEEDED)
    problem = ProblemFactory(project=project)
    right, wrong = (
        trace_with_steps(problem, [text], origin=Origin.MODEL_SAMPLE, job=job, is_correct=ok)
        for text, ok in (("4", True), ("5", False))
    )
    imported = trace_with_steps(ProblemFactory(project=project), ["imported"])
    return job, right, wrong, imported


def claimed_traces(project, user):
    traces = []
    while (
        claim := assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
    ) is not None:
        traces.append(claim.trace_id)
        claim.status = "submitted"
        claim.save(update_fields=["status"])
    return traces


def test_model_outputs_stay_out_of_the_queue_until_sent(project, annotator, outputs):
    _job, _right, _wrong, imported = outputs
    assert queue_counts(project=project, user=annotator)["grade"] == 1
    assert claimed_traces(project, annotator) == [imported.pk]


def test_a_researcher_sends_a_jobs_correct_outputs_from_its_page(
    client, project, annotator, outputs
):
    job, right, _wrong, imported = outputs
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    client.force_login(annotator)
    assert client.post(f"/jobs/{job.pk}/queue/", {"which": "all"}).status_code == 403
    client.force_login(researcher)
    response = client.post(f"/jobs/{job.pk}/queue/", {"which": "correct"})
    assert response.status_code == 302
    assert list(QueuedTrace.objects.values_list("trace_id", "sent_by", "job")) == [
        (right.pk, researcher.pk, job.pk)
    ]
    assert sorted(claimed_traces(project, annotator)) == sorted([right.pk, imported.pk])


def test_the_api_sends_a_selection_and_names_what_it_refuses(client, project, outputs):
    job, _right, wrong, _imported = outputs
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    client.force_login(researcher)
    url = f"/api/projects/{project.pk}/queue"

    def send(body):
        return client.post(url, json.dumps(body), content_type="application/json")

    other = ProblemFactory()  # another project's
    foreign = trace_with_steps(other, ["x"], origin=Origin.MODEL_SAMPLE)
    refused = send({"trace_ids": [wrong.pk, foreign.pk]})
    assert (refused.status_code, refused.json()) == (
        400,
        {
            "non_field_errors": [
                f"trace_ids: {foreign.pk} is not a trace of {project.name} that can be graded."
            ]
        },
    )
    assert send({"trace_ids": [wrong.pk]}).json() == {"sent": 1}
    assert send({"job": job.pk}).json() == {"sent": 1}  # the other one; wrong is there already
    assert send({"correct": "yes", "job": job.pk}).status_code == 400


def test_a_project_may_queue_every_jobs_outputs(project, annotator, outputs):
    project.queue_job_outputs = True
    project.save()
    _job, right, wrong, imported = outputs
    assert sorted(claimed_traces(project, annotator)) == sorted([right.pk, wrong.pk, imported.pk])
