"""Agreement between annotators over a whole project runs as a job: its stored result equals
the direct computation (and the exact values of the direct tests, tests/workspace/test_saves.py
runs `agreement_by_job` beside them), the dashboard reads only the stored result (no grade
row), tells its age, shows it outdated after a grade or a review decision, and its refresh
queues one job."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.workspace.agreement_job import stored_agreement
from annotation.workspace.models import ItemKind
from annotation.workspace.selectors import project_agreement
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.reviews import assignment_review
from annotation.workspace.services.saves import grading_submit
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps
from tests.workspace.test_queue_entries import GRADE_TABLE
from workers.tasks import run_job

pytestmark = pytest.mark.django_db


def agreement_by_job(project):
    """Run the agreement job's body here; the agreement it stored, as the dashboard reads it."""
    job = Job.objects.create(project=project, kind=JobKind.AGREEMENT, params={})
    run_job.run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return stored_agreement(job.result)


def two_gradings(project):
    """Two annotators grade a two-step trace, disagreeing on the second step; a reviewer."""
    project.overlap = 2
    project.save()
    trace = trace_with_steps(ProblemFactory(project=project), ["Step one.", "Step two."])
    nodes = [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]
    claims = []
    for name, ratings in (("first", [1, 1]), ("second", [1, -1])):
        user = MembershipFactory(project=project, user=UserFactory(username=name)).user
        claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
        grades = {n: {"rating": r} for n, r in zip(nodes, ratings, strict=True)}
        grading_submit(
            assignment=claim, version=1, draft={"grades": grades}, finish_reason="solution"
        )
        claim.refresh_from_db()
        claims.append(claim)
    return claims, MembershipFactory(project=project, role=Role.REVIEWER).user


def test_the_agreement_job_stores_the_direct_computation(project):
    # given
    claims, reviewer = two_gradings(project)
    # when
    overall, per_user = agreement_by_job(project)
    # then
    assert (overall, per_user) == project_agreement(project=project)
    assert (overall.items, overall.rejected_left_out, overall.first_error) == (1, 0, 0.0)
    # and after a rejection the job's result is the direct one again: one vote left, no pair
    assignment_review(assignment=claims[1], reviewer=reviewer, decision="rejected", comment="no")
    overall, per_user = agreement_by_job(project)
    assert (overall, per_user) == project_agreement(project=project)
    assert (overall.items, overall.rejected_left_out) == (0, 1)


def test_the_dashboard_reads_the_stored_agreement_and_refreshes_it(client, project):
    # given a stored agreement
    claims, reviewer = two_gradings(project)
    client.force_login(reviewer)
    url = reverse("workspace-dashboard", args=[project.pk])
    assert b"Not computed yet" in client.get(url).content
    refresh = reverse("evaluation-refresh", args=[project.pk, "agreement"])
    assert client.post(refresh).status_code == 302
    assert client.post(refresh).status_code == 302  # the queued one is reused
    (job,) = Job.objects.filter(project=project, kind=JobKind.AGREEMENT)
    run_job.run(job.pk)
    # when
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    # then
    assert page.status_code == 200
    assert [q["sql"] for q in queries.captured_queries if GRADE_TABLE.search(q["sql"])] == []
    assert page.context["agreement"].items == 1
    assert b"no grade written since" in page.content
    # and a review decision shows it outdated
    assignment_review(assignment=claims[1], reviewer=reviewer, decision="rejected", comment="no")
    assert b'data-testid="analysis-outdated"' in client.get(url).content
