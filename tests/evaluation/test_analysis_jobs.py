"""Whole-project analyses run as jobs: each stored result equals the direct computation of
today (and the exact values the direct tests check), the pages and the API read only the
stored result (no grade row), and show its age, whether grades were written since, and a
refresh that queues one job."""

import json
import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.evaluation import analyses, selectors
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import Job, JobStatus
from tests.evaluation.test_comparison import RECORDS, add_prm_scores, import_processbench
from tests.evaluation.test_reports import make_samples
from tests.factories import ProblemFactory, researcher, trace_with_steps
from workers.tasks import run_job

pytestmark = pytest.mark.django_db


def analysed(client, project, kind, params=None):
    """Start the analysis over the API and run its task's body here; the finished job."""
    response = client.post(
        "/api/jobs/",
        {"project": project.pk, "kind": kind, "params": params or {}},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    run_job.run(response.json()["id"])
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def as_stored(value):
    """JSON as a job's result keeps it (a float stays a float, a tuple becomes a list)."""
    return json.loads(json.dumps(value))


def without_version(result):
    return {k: v for k, v in result.items() if k != "data_version"}


def test_the_scorer_comparison_job_stores_the_direct_computation(client, project):
    # given the ProcessBench records of the direct tests, scored by a PRM
    traces = import_processbench(project)
    add_prm_scores(traces)
    client.force_login(researcher(project))
    # when
    job = analysed(client, project, "scorer_comparison")
    # then the stored result is today's direct computation, value for value
    direct = analyses.comparison_json(selectors.compare_sources(project))
    assert without_version(job.result) == as_stored(direct)
    (row,) = job.result["sources"]
    assert (row["threshold"], row["steps"], row["processbench"]["traces"]) == (0.5, 7, 3)
    assert math.isclose(row["processbench"]["f1"], 2 / 3)
    assert math.isclose(row["auroc"], 0.9)
    assert (row["bad_precision"], row["bad_recall"]) == (1.0, 0.5)
    assert (job.result["traces"], job.result["calibration_traces"]) == (len(RECORDS), 3)
    # and the API returns it with what it is
    body = client.get(reverse("evaluation-api-comparison", args=[project.pk])).json()
    assert body["sources"] == job.result["sources"]
    assert body["analysis"]["job"] == job.pk
    assert body["analysis"]["outdated"] is False


def test_the_best_of_n_job_stores_the_direct_computation(client, project):
    make_samples(project)
    client.force_login(researcher(project))
    job = analysed(client, project, "best_of_n")
    direct = analyses.best_of_n_json(selectors.best_of_n(project))
    assert without_version(job.result) == as_stored(direct)
    assert job.result["n"] == [1, 2, 4]
    assert job.result["series"]["prm <b>run</b> (last)"] == [0.5, 1.0, 1.0]
    assert job.result["series"]["majority vote"] == [0.5, 0.5, 0.5]
    assert job.result["series"]["oracle"] == [0.5, 1.0, 1.0]
    body = client.get(reverse("evaluation-api-best-of-n", args=[project.pk])).json()
    assert body["series"]["oracle"] == [0.5, 1.0, 1.0]


def test_the_disagreement_job_stores_the_direct_order(client, project):
    # given two traces two machines scored, one contested, one calm
    problem = ProblemFactory(project=project)
    calm, contested = (trace_with_steps(problem, [name]) for name in "yz")
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm")
    judge = GradeSource.objects.create(kind=SourceKind.JUDGE, name="judge")
    for trace, scores in ((calm, (0.9, 0.95)), (contested, (0.9, 0.2))):
        node = trace.steps.get().node_id
        for source, score in zip((prm, judge), scores, strict=True):
            Grade.objects.create(node_id=node, source=source, trace=trace, score=score)
    client.force_login(researcher(project))
    # when
    job = analysed(client, project, "disagreement_queue")
    # then
    assert without_version(job.result) == as_stored(analyses.queue_json(project))
    assert [t["id"] for t in job.result["traces"]] == [contested.pk, calm.pk]
    page = client.get(reverse("evaluation-queue", args=[project.pk])).content.decode()
    assert page.index(f'data-trace="{contested.pk}"') < page.index(f'data-trace="{calm.pk}"')


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("evaluation-home", "scorer_comparison"),
        ("evaluation-best-of-n", "best_of_n"),
        ("evaluation-queue", "disagreement_queue"),
        ("evaluation-api-comparison", "scorer_comparison"),
        ("evaluation-api-best-of-n", "best_of_n"),
        ("evaluation-api-queue", "disagreement_queue"),
    ],
)
def test_pages_read_no_grade_row_and_tell_the_age_of_what_they_show(client, project, name, kind):
    # given a stored analysis
    traces = import_processbench(project)
    add_prm_scores(traces)
    make_samples(project)
    client.force_login(researcher(project))
    analysed(client, project, kind)
    url = reverse(name, args=[project.pk])
    # when
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    # then
    assert response.status_code == 200
    read = [q["sql"] for q in queries.captured_queries if '"grading_grade"' in q["sql"]]
    assert read == []
    if name.startswith("evaluation-api"):
        assert response.json()["analysis"]["outdated"] is False
    else:
        assert 'data-testid="analysis-outdated"' not in response.content.decode()
        assert "no grade written since" in response.content.decode()
    # and once a grade is written, the result shows as outdated
    step = traces[0].steps.get(position=0)
    later = GradeSource.objects.create(kind=SourceKind.JUDGE, name="a later judge")
    Grade.objects.create(node_id=step.node_id, source=later, score=0.1)
    again = client.get(url)
    if name.startswith("evaluation-api"):
        assert again.json()["analysis"]["outdated"] is True
    else:
        assert 'data-testid="analysis-outdated"' in again.content.decode()


def test_refresh_queues_one_analysis_and_the_page_says_so(client, project):
    client.force_login(researcher(project))
    home = reverse("evaluation-home", args=[project.pk])
    assert "Not computed yet" in client.get(home).content.decode()
    url = reverse("evaluation-refresh", args=[project.pk, "scorer_comparison"])
    first = client.post(url)
    second = client.post(url)
    assert (first.status_code, first.url, second.url) == (302, home, home)
    (job,) = Job.objects.filter(project=project, kind="scorer_comparison")
    assert job.status == JobStatus.QUEUED
    page = client.get(home).content.decode()
    assert f"job #{job.pk}" in page
    assert 'data-testid="analysis-refresh"' not in page
    assert (
        client.post(reverse("evaluation-refresh", args=[project.pk, "nonsense"])).status_code == 404
    )
