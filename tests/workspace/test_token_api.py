"""The editors' JSON endpoints and the gold list take an API token as the DRF API does; with a
session they keep their CSRF check."""

import json

import pytest
from django.test import Client

from annotation.core.models import Role
from annotation.core.tokens import token_create
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def claim(project, annotator, trace):
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)


def test_an_annotator_saves_and_submits_with_a_token_and_no_csrf_token(claim, annotator, trace):
    # given a client that checks CSRF as browsers do, and the annotator's token
    client = Client(enforce_csrf_checks=True)
    _, key = token_create(user=annotator)
    node = str(trace.steps.order_by("position").first().node_id)
    # when
    saved = client.put(
        f"/api/work/{claim.pk}/draft",
        json.dumps({"version": claim.version, "grades": {node: {"rating": 1}}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    # then
    assert saved.status_code == 200, saved.content
    assert Assignment.objects.get(pk=claim.pk).version == claim.version + 1


def test_a_session_without_its_csrf_token_is_still_refused(claim, annotator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    response = client.put(
        f"/api/work/{claim.pk}/draft",
        json.dumps({"version": claim.version, "grades": {}}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_a_bad_token_is_a_401_in_json(claim):
    response = Client().get(
        f"/api/work/{claim.pk}/continuation", HTTP_AUTHORIZATION="Token not-a-key"
    )
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid token."}


def test_an_admin_reads_and_changes_gold_with_a_token(project, trace):
    # given
    admin = UserFactory(username="gold-admin")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    _, key = token_create(user=admin)
    client = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    # when
    listed = client.get(f"/api/projects/{project.pk}/gold", **auth)
    unmarked = client.delete(
        f"/api/projects/{project.pk}/gold",
        json.dumps({"trace_ids": [trace.pk]}),
        content_type="application/json",
        **auth,
    )
    # then
    assert listed.status_code == 200 and listed.json() == {"gold": []}
    assert unmarked.status_code == 200, unmarked.content
    assert unmarked.json() == {"unmarked": 0}


def test_an_annotators_token_does_not_open_the_gold_list(project, annotator):
    _, key = token_create(user=annotator)
    response = Client().get(f"/api/projects/{project.pk}/gold", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 403


def test_the_api_docs_page_links_back_to_the_app(annotator):
    client = Client()
    client.force_login(annotator)
    page = client.get("/api/docs/").content.decode()
    assert 'data-testid="api-docs-back"><a href="/">' in page


def test_the_queue_confirms_a_submitted_grading(claim, annotator, trace):
    # given every step rated
    client = Client()
    client.force_login(annotator)
    nodes = [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]
    # when
    submitted = client.post(
        f"/api/work/{claim.pk}/submit",
        json.dumps(
            {
                "version": claim.version,
                "grades": {n: {"rating": 1} for n in nodes},
                "finish_reason": "solution",
            }
        ),
        content_type="application/json",
    )
    queue = client.get(submitted.json()["next_url"])
    # then
    assert submitted.status_code == 200, submitted.content
    assert f"Your grades of trace {trace.pk} are submitted." in queue.content.decode()
