"""Two rounds side by side run as a job (issue 30): its stored rows equal the direct
computation (and exact values), the compare page reads only the stored rows (no tree node),
tells their age, shows them outdated once a round grew, and its refresh queues one job."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.core.models import Role
from annotation.evaluation.analyses import RoundComparisonParams, analysis_start
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.trees.comparison_job import comparison_json
from annotation.trees.selectors.rounds import ProblemFilter, compare_rounds
from annotation.trees.services import tree_round_record
from tests.factories import MembershipFactory, ProblemFactory, UserFactory
from tests.trees.conftest import hand_tree, two_correct_leaves
from workers.tasks import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_rounds(problem):
    """Round A: hand trees of two problems; round B: a tree of the first one only."""
    other = ProblemFactory(project=problem.project, text="Solve 2x = 8.", answer="4", level=3)
    first = tree_round_record(
        project=problem.project,
        user=None,
        trees=[(problem.pk, hand_tree(problem)), (other.pk, hand_tree(other))],
        label="a",
    )
    second = tree_round_record(
        project=problem.project,
        user=None,
        trees=[(problem.pk, two_correct_leaves(problem))],
        label="b",
    )
    return first, second


def compared_by_job(project, params):
    """Run the comparison job's body here; its stored result."""
    job = analysis_start(project=project, kind=JobKind.ROUND_COMPARISON, user=None, params=params)
    run_job.run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job.result


@pytest.mark.parametrize(
    "flt",
    [
        ProblemFilter(),
        ProblemFilter(level=2),
        ProblemFilter(keyword="boxed{4}"),
        ProblemFilter(level=3),
    ],
)
def test_the_round_comparison_job_stores_the_direct_computation(problem, two_rounds, flt):
    # given
    first, second = two_rounds
    params = RoundComparisonParams(
        round_a=first.pk, round_b=second.pk, level=flt.level, keyword=flt.keyword
    )
    # when
    result = compared_by_job(problem.project, params)
    # then
    direct = comparison_json(compare_rounds([first, second], flt))
    assert {k: v for k, v in result.items() if k != "data_version"} == direct
    expected = [] if flt.level == 3 else [problem.pk]
    assert [row["problem"]["id"] for row in result["rows"]] == expected


def test_the_stored_rows_are_the_trees_counts(problem, two_rounds):
    first, second = two_rounds
    result = compared_by_job(
        problem.project, RoundComparisonParams(round_a=first.pk, round_b=second.pk)
    )
    [row] = result["rows"]
    assert row == {
        "problem": {"id": problem.pk, "external_id": problem.external_id},
        "cells": [
            {"nodes": 5, "leaves": 3, "correct_leaves": 1, "max_depth": 2},
            {"nodes": 6, "leaves": 4, "correct_leaves": 2, "max_depth": 2},
        ],
    }


def test_the_compare_page_reads_the_stored_comparison_and_refreshes_it(problem, two_rounds, client):
    # given
    first, second = two_rounds
    user = UserFactory()
    MembershipFactory(project=problem.project, user=user, role=Role.RESEARCHER)
    client.force_login(user)
    project = problem.project.pk
    url = f"/projects/{project}/trees/compare/?a={first.pk}&b={second.pk}&level=2"
    assert b"Not computed yet" in client.get(url).content
    refresh = f"/projects/{project}/evaluation/refresh/round_comparison/"
    form = {"a": first.pk, "b": second.pk, "level": 2}
    answer = client.post(refresh, form)
    assert answer.status_code == 302
    assert (
        answer["Location"]
        == f"/projects/{project}/trees/compare/?a={first.pk}&b={second.pk}&level=2"
    )
    assert client.post(refresh, form).status_code == 302  # the queued one is reused
    (job,) = Job.objects.filter(kind=JobKind.ROUND_COMPARISON)
    assert job.params["level"] == 2
    run_job.run(job.pk)
    # when
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    # then
    assert page.status_code == 200
    assert [q["sql"] for q in queries.captured_queries if "trees_treenode" in q["sql"]] == []
    assert len(page.context["rows"]) == 1
    assert b'data-testid="compare-row"' in page.content
    assert b"the rounds are as they were" in page.content
    # another filter is another comparison, not computed yet
    assert b"Not computed yet" in client.get(url.replace("level=2", "level=3")).content
    # and a round that grew shows the stored rows outdated
    Job.objects.filter(pk=second.pk).update(done=second.done + 1)
    assert b'data-testid="analysis-outdated">the rounds grew since' in client.get(url).content


def test_a_refresh_names_two_rounds_of_the_project(problem, two_rounds, client):
    first, _ = two_rounds
    user = UserFactory()
    MembershipFactory(project=problem.project, user=user, role=Role.RESEARCHER)
    client.force_login(user)
    refresh = f"/projects/{problem.project.pk}/evaluation/refresh/round_comparison/"
    assert client.post(refresh, {"a": first.pk}).status_code == 404
    assert client.post(refresh, {"a": first.pk, "b": 10**9}).status_code == 404
    assert not Job.objects.filter(kind=JobKind.ROUND_COMPARISON).exists()
