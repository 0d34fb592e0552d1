"""Where the project stops at the first error, the server refuses ratings after it."""

import json

import pytest

from annotation.grading.models import Grade
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next


def put(client, claim, body):
    return client.put(
        f"/api/work/{claim.pk}/draft", json.dumps(body), content_type="application/json"
    )


@pytest.fixture
def claim(client, project, annotator, trace):
    client.force_login(annotator)
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)


def nodes_of(trace):
    return [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]


def test_a_rating_after_the_first_error_is_refused(client, claim, trace):
    nodes = nodes_of(trace)
    grades = {nodes[0]: {"rating": 1}, nodes[1]: {"rating": -1}, nodes[3]: {"rating": 1}}
    response = put(client, claim, {"version": 1, "grades": grades})
    assert response.status_code == 400
    assert response.json() == {
        "error": "Step 4: this project stops at the first error (step 2 is rated -1); clear "
        "the ratings after it."
    }
    assert not Grade.objects.exists()


def test_the_first_error_saved_earlier_counts_too(client, claim, trace):
    nodes = nodes_of(trace)
    assert put(client, claim, {"version": 1, "grades": {nodes[1]: {"rating": -1}}}).status_code
    response = put(client, claim, {"version": 2, "grades": {nodes[2]: {"rating": 0}}})
    assert response.status_code == 400
    assert response.json()["error"].startswith("Step 3: this project stops at the first error")


def test_clearing_the_ratings_after_it_is_allowed(client, claim, trace):
    nodes = nodes_of(trace)
    first = {nodes[0]: {"rating": 1}, nodes[1]: {"rating": 1}, nodes[2]: {"rating": 1}}
    assert put(client, claim, {"version": 1, "grades": first}).status_code == 200
    second = {nodes[0]: {"rating": -1}, nodes[1]: {"rating": None}, nodes[2]: {"rating": None}}
    assert put(client, claim, {"version": 2, "grades": second}).status_code == 200
    assert list(Grade.objects.filter(is_current=True).values_list("rating", flat=True)) == [-1]


def test_a_project_that_does_not_stop_takes_every_rating(client, project, claim, trace):
    project.stop_at_first_bad_step = False
    project.save()
    nodes = nodes_of(trace)
    grades = {nodes[1]: {"rating": -1}, nodes[3]: {"rating": 1}}
    assert put(client, claim, {"version": 1, "grades": grades}).status_code == 200
