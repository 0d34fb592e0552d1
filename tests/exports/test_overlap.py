"""Traces graded in Stepwise by several annotators: one exported row per labeler."""

import io
import json

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.prm800k_rows import labeler_id
from annotation.datasets.exporter import export_dataset
from annotation.workspace.models import Assignment
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

STEPS = ["2 + 3 = 5.", "5 * 2 = 11.", "The answer is 11."]


def prm800k_rows(project) -> list[dict]:
    out = io.StringIO()
    export_dataset(
        project=project,
        format_name="prm800k",
        out=out,
        options=ExportOptions(format="prm800k"),
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


def claim(client, project, user) -> Assignment:
    client.force_login(user)
    client.post(reverse("workspace-next", args=[project.pk]), {"kind": "grade"})
    return Assignment.objects.get(annotator=user)


def save(client, assignment, version, ratings):
    nodes = [
        str(n)
        for n in assignment.trace.steps.order_by("position").values_list("node_id", flat=True)
    ]
    grades = {node: {"rating": rating} for node, rating in zip(nodes, ratings, strict=True)}
    response = client.put(
        reverse("workspace-api-draft", args=[assignment.pk]),
        json.dumps({"version": version, "grades": grades}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return grades


def submit(client, assignment, version, grades):
    response = client.post(
        reverse("workspace-api-submit", args=[assignment.pk]),
        json.dumps({"version": version, "grades": grades, "finish_reason": "found_error"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content


def ratings(row) -> list[int | None]:
    return [s["completions"][s["chosen_completion"]]["rating"] for s in row["label"]["steps"]]


@pytest.fixture
def graded_twice(project, client):
    """Two annotators grade the same trace (overlap 2), each changing one grade once."""
    project.overlap = 2
    project.save()
    problem = ProblemFactory(project=project, text="What is (2 + 3) * 2?", answer="10")
    trace = trace_with_steps(problem, STEPS)
    first, second = UserFactory(username="ann1"), UserFactory(username="ann2")
    for user in (first, second):
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    # the first stops at the first bad step, then changes their mind about step 1
    mine = claim(client, project, first)
    save(client, mine, 1, [1, -1, None])
    grades = save(client, mine, 2, [0, -1, None])
    submit(client, mine, 3, grades)
    # the second rates every step, then changes the last one
    theirs = claim(client, project, second)
    save(client, theirs, 1, [1, 1, 1])
    grades = save(client, theirs, 2, [1, 1, -1])
    submit(client, theirs, 3, grades)
    return trace


def test_prm800k_export_has_one_row_per_labeler_with_only_their_current_ratings(
    project, graded_twice
):
    # when
    exported = prm800k_rows(project)
    # then
    assert [(row["labeler"], ratings(row)) for row in exported] == [
        (labeler_id(project.pk, "user:ann1"), [0, -1, None]),
        (labeler_id(project.pk, "user:ann2"), [1, 1, -1]),
    ]


def test_a_cleared_grade_is_not_exported(project, client):
    # given an annotator who rated the last step and then took the rating back
    problem = ProblemFactory(project=project, text="What is 2 + 3?", answer="5")
    trace_with_steps(problem, STEPS[:2])
    user = UserFactory(username="ann")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    mine = claim(client, project, user)
    save(client, mine, 1, [1, -1])
    save(client, mine, 2, [1, None])
    # when
    exported = prm800k_rows(project)
    # then
    assert [(row["labeler"], ratings(row)) for row in exported] == [
        (labeler_id(project.pk, "user:ann"), [1, None])
    ]
