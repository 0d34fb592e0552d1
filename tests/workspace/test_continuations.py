"""'Continue from here': the project's model (a tiny one made in this session) goes on from the
annotator's chosen or written step, run by a real Celery worker; the continuation shows on
their path when it is ready."""

import json

import pytest

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.problems.models import TraceStep
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import (
    MembershipFactory,
    ProblemFactory,
    ProjectFactory,
    UserFactory,
    trace_with_steps,
)
from tests.support.data import generator_config
from tests.support.models import tiny_model
from tests.support.worker import WorkerProcess, finished

pytestmark = [pytest.mark.worker, pytest.mark.models]


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    tiny_model("lm")
    return shared_worker


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_model_continues_from_the_annotators_own_step(
    worker: WorkerProcess, transactional_db: None, client
) -> None:
    # given a project with a model for continuations, and an annotator on a 3-step trace
    project = ProjectFactory()
    project.continuation_model = generator_config(project, "transformers")
    project.save()
    annotator = MembershipFactory(project=project, user=UserFactory(username="cont")).user
    trace = trace_with_steps(
        ProblemFactory(project=project, text="What is 2 + 3?"), ["a", "b", "c"]
    )
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    # when they write their own step 2 and ask the model to continue from it
    post(client, f"/api/work/{claim.pk}/path", {"version": 1, "position": 1, "write": "2 + 3 = 5."})
    started = post(client, f"/api/work/{claim.pk}/continue", {"version": 2, "position": 1})
    assert started.status_code == 202
    job = Job.objects.get(pk=started.json()["id"])
    assert (job.kind, job.created_by, job.params["trace"]) == (
        JobKind.CONTINUE,
        annotator,
        Assignment.objects.get(pk=claim.pk).work_trace_id,
    )
    job = finished(job, worker)
    # then the model's steps follow theirs on their path, and the page is told
    assert job.status == JobStatus.SUCCEEDED
    claim.refresh_from_db()
    path = list(
        TraceStep.objects.filter(trace_id=claim.work_trace_id, on_path=True)
        .order_by("position")
        .values_list("position", "option", "node__text")
    )
    assert path[:2] == [(0, None, "a"), (1, None, "2 + 3 = 5.")]
    assert job.result["attached"] is True
    assert len(path) == 2 + job.result["steps"] and job.result["steps"] >= 1
    assert {option for _, option, _ in path[2:]} == {0}
    status = client.get(f"/api/work/{claim.pk}/continuation").json()
    assert status == {"job": job.pk, "status": "succeeded", "attached": True, "error": None}
    assert trace.steps.count() == 3  # the trace graded is as it was


def test_without_a_model_there_is_nothing_to_continue_with(db, client):
    project = ProjectFactory()
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    trace_with_steps(ProblemFactory(project=project), ["a"])
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    response = post(client, f"/api/work/{claim.pk}/continue", {"version": 1, "position": 0})
    assert response.status_code == 400
    assert response.json()["error"].startswith("This project has no model to continue solutions")
    assert not Job.objects.exists()
