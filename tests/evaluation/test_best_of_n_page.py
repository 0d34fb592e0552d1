"""The best-of-N page offers the project's sample jobs to choose from (no job number to type)."""

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_sample_jobs_of_the_project_are_offered(client, project):
    # given two sample jobs here, one elsewhere, and a tree job here
    ours = [
        Job.objects.create(project=project, kind=JobKind.SAMPLE, model_version=f"m@v{i}")
        for i in (1, 2)
    ]
    other = Job.objects.create(project=ProjectFactory(name="other"), kind=JobKind.SAMPLE)
    Job.objects.create(project=project, kind=JobKind.TREE)
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    client.force_login(user)
    url = reverse("evaluation-best-of-n", args=[project.pk])
    # when
    page = client.get(url).content.decode()
    chosen = client.get(url, {"job": ours[0].pk})
    refused = client.get(url, {"job": other.pk})
    # then
    assert '<select name="job"' in page
    assert [f'<option value="{job.pk}"' in page for job in ours] == [True, True]
    assert f'<option value="{other.pk}"' not in page
    assert f'<option value="{ours[0].pk}" selected>' in chosen.content.decode()
    assert "Select a valid choice" in refused.content.decode()
