"""Every kind of job has a page: /jobs/N/ shows it, or sends to its kind's own page, live until
the job ends and with its result after."""

import pytest

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_kind_of_job_has_a_page(client, kind):
    # given a finished job of the kind (a long thought names its tree job)
    project = ProjectFactory()
    tree = Job.objects.create(project=project, kind=JobKind.TREE, status=JobStatus.SUCCEEDED)
    params = {"tree_job": tree.pk} if kind == JobKind.LONG_THOUGHT else {}
    job = Job.objects.create(project=project, kind=kind, status=JobStatus.SUCCEEDED, params=params)
    client.force_login(MembershipFactory(project=project, role=Role.ADMIN).user)
    # when
    page = client.get(f"/jobs/{job.pk}/", follow=True)
    # then
    assert page.status_code == 200
    assert f"job {job.pk}</h1>" in page.content.decode()


def test_a_continuation_job_shows_its_result(client):
    # given a continuation that attached two steps to an annotator's path
    project = ProjectFactory()
    job = Job.objects.create(
        project=project,
        kind=JobKind.CONTINUE,
        status=JobStatus.SUCCEEDED,
        result={"attached": True, "steps": 2, "tokens": 31, "finish": "stop"},
    )
    client.force_login(MembershipFactory(project=project, role=Role.ANNOTATOR).user)
    # when
    page = client.get(f"/jobs/{job.pk}/")
    # then: the generic job page, with the result as a table
    assert page.status_code == 200
    assert [(row.label, row.value) for row in page.context["result_rows"]] == [
        ("Tokens generated", "31 tokens"),
        ("Attached to the annotator's path", "yes"),
        ("Steps written", "2"),
        ("Finish reason", "stop"),
    ]
