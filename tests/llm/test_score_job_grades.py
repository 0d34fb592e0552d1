"""A scoring job's page and API list show that job's scores and no other source's grades."""

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import Job, JobKind
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(project):
    """Two traces sharing a first step, graded by a dataset, an annotator and a PRM run."""
    problem = ProblemFactory(project=project)
    first = trace_with_steps(problem, ["Step A.", "Step B."])
    second = trace_with_steps(problem, ["Step A.", "Step C."])
    nodes = {
        trace: list(trace.steps.order_by("position").values_list("node_id", flat=True))
        for trace in (first, second)
    }
    dataset = GradeSource.objects.create(kind=SourceKind.DATASET, name="prm800k:labeler")
    person = GradeSource.objects.create(
        kind=SourceKind.HUMAN, name="user:ann", user=UserFactory(username="ann")
    )
    for node in nodes[first]:
        Grade.objects.create(node_id=node, source=dataset, trace=first, rating=-1)
        Grade.objects.create(node_id=node, source=person, trace=first, rating=0)
    job = Job.objects.create(
        project=project,
        kind=JobKind.SCORE,
        status="succeeded",
        params={"trace_ids": [first.pk, second.pk]},
    )
    run = GradeSource.objects.create(kind=SourceKind.PRM, name="prm job: tiny", job=job)
    # the shared first step is scored once, in the first trace
    for node, trace, score in [
        (nodes[first][0], first, 0.25),
        (nodes[first][1], first, 0.5),
        (nodes[second][1], second, 0.75),
    ]:
        Grade.objects.create(node_id=node, source=run, trace=trace, score=score)
    return job


@pytest.fixture
def researcher(project, client):
    user = UserFactory(username="rita")
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    client.force_login(user)
    return user


def test_the_score_job_page_shows_only_the_jobs_scores(client, scored, researcher):
    # when
    page = client.get(reverse("llm-job", args=[scored.pk])).content.decode()
    # then every badge is the run's, and the shared first step shows its score in both traces
    badges = page.split('class="grade-badge"')[1:]
    assert [b.split(">", 1)[1].split("<", 1)[0] for b in badges] == [
        "0.250",
        "0.500",
        "0.250",
        "0.750",
    ]
    assert all(b.startswith(' title="prm job: tiny"') for b in badges)


def test_the_grades_api_lists_one_jobs_scores(client, scored, researcher):
    # when
    listed = client.get(f"/api/grades/?job={scored.pk}").json()["results"]
    # then
    assert sorted((g["source_name"], g["score"], g["rating"]) for g in listed) == [
        ("prm job: tiny", 0.25, None),
        ("prm job: tiny", 0.5, None),
        ("prm job: tiny", 0.75, None),
    ]
