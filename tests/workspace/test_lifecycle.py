"""Submitted work is final until a reviewer returns it; every later change is a new version."""

import json

import pytest

from annotation.core.models import Role
from annotation.grading.models import Grade
from annotation.workspace.models import Assignment, AssignmentStatus, ItemKind
from annotation.workspace.services.claims import assignment_claim_next, claims_expire_stale
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.reviews import assignment_return, assignment_review
from tests.factories import MembershipFactory, ProblemFactory


def put(client, assignment_id, body):
    return client.put(
        f"/api/work/{assignment_id}/draft", json.dumps(body), content_type="application/json"
    )


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def nodes_of(trace):
    return [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]


@pytest.fixture
def reviewer(project):
    return MembershipFactory(project=project, role=Role.REVIEWER).user


@pytest.fixture
def submitted(client, project, annotator, trace):
    """A graded trace, submitted: steps rated +1, +1, -1 (found_error)."""
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    nodes = nodes_of(trace)
    grades = {nodes[0]: {"rating": 1}, nodes[1]: {"rating": 1}, nodes[2]: {"rating": -1}}
    body = {"version": 1, "grades": grades, "finish_reason": "found_error"}
    assert post(client, f"/api/work/{claim.pk}/submit", body).status_code == 200
    claim.refresh_from_db()
    return claim


def current_ratings(annotator):
    return sorted(
        Grade.objects.filter(source__user=annotator, is_current=True).values_list(
            "rating", flat=True
        )
    )


def test_a_write_to_submitted_work_gets_409_and_changes_nothing(client, submitted, annotator):
    # given submitted work at version 2
    nodes = nodes_of(submitted.trace)
    # when the annotator saves, submits again and changes their path, with the right version
    saved = put(client, submitted.pk, {"version": 2, "grades": {nodes[2]: {"rating": 0}}})
    resubmitted = post(
        client,
        f"/api/work/{submitted.pk}/submit",
        {"version": 2, "grades": {}, "finish_reason": "give_up"},
    )
    rewritten = post(
        client, f"/api/work/{submitted.pk}/path", {"version": 2, "position": 1, "write": "x"}
    )
    # then each is refused with a message, and the grades and the claim are as submitted
    for response in (saved, resubmitted, rewritten):
        assert response.status_code == 409
        assert response.json() == {
            "error": "This work was submitted and can no longer be changed; a reviewer can "
            "return it to you with a comment.",
            "locked": True,
            "status": "submitted",
        }
    assert current_ratings(annotator) == [-1, 1, 1]
    submitted.refresh_from_db()
    assert (submitted.version, submitted.status, submitted.finish_reason) == (
        2,
        "submitted",
        "found_error",
    )


def test_a_submitted_thought_record_is_final(client, project, annotator):
    ProblemFactory(project=project, answer="2")
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.RECORD)
    body = {
        "version": 1,
        "thoughts": [{"kind": "attempt", "text": "1 + 1 = 2"}],
        "final_answer": "2",
        "finish_reason": "solution",
        "checklist": {"attempts": True, "common_knowledge": True},
    }
    assert post(client, f"/api/work/{claim.pk}/submit", body).status_code == 200
    # when
    response = put(client, claim.pk, {"version": 2, "thoughts": [{"kind": "attempt", "text": "3"}]})
    # then
    assert response.status_code == 409
    assert response.json()["locked"] is True
    claim.refresh_from_db()
    assert claim.draft["thoughts"] == [{"kind": "attempt", "text": "1 + 1 = 2"}]


def test_skipped_work_is_final(client, project, annotator, trace):
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    client.post(f"/work/{claim.pk}/skip/", {"reason": "not my field"})
    response = put(client, claim.pk, {"version": 1, "grades": {}})
    assert response.status_code == 409
    assert response.json()["error"] == "You skipped this item; it can no longer be changed."


def test_a_returned_item_opens_as_a_new_version_and_keeps_every_grade_version(
    client, submitted, annotator, reviewer
):
    # given a reviewer returns the submitted work with a comment
    nodes = nodes_of(submitted.trace)
    assignment_return(assignment=submitted, reviewer=reviewer, comment="Step 3 is fine.")
    submitted.refresh_from_db()
    assert (submitted.status, submitted.review_status, submitted.version) == (
        "in_progress",
        "returned",
        3,
    )
    # when a window still on version 2 saves, then the annotator saves on version 3
    stale = put(client, submitted.pk, {"version": 2, "grades": {nodes[2]: {"rating": 1}}})
    grades = {nodes[0]: {"rating": 1}, nodes[1]: {"rating": 1}, nodes[2]: {"rating": 0}}
    fresh = put(client, submitted.pk, {"version": 3, "grades": grades})
    done = post(
        client,
        f"/api/work/{submitted.pk}/submit",
        {"version": 4, "grades": grades, "finish_reason": "give_up"},
    )
    # then the stale one conflicts, the change is a new version of that grade, and the
    # claim's history has both submits and the return
    assert (stale.status_code, fresh.status_code, done.status_code) == (409, 200, 200)
    versions = list(
        Grade.objects.filter(source__user=annotator, node_id=nodes[2])
        .order_by("id")
        .values_list("rating", "is_current")
    )
    assert versions == [(-1, False), (0, True)]
    events = list(submitted.events.values_list("kind", "actor__username", "version", "comment"))
    assert events == [
        ("submitted", "ann", 2, ""),
        ("returned", reviewer.username, 3, "Step 3 is fine."),
        ("submitted", "ann", 5, ""),
    ]
    assert Assignment.objects.get(pk=submitted.pk).status == AssignmentStatus.SUBMITTED


def test_returning_needs_a_comment_and_submitted_work(submitted, reviewer, annotator):
    with pytest.raises(WorkspaceError, match="Say in the comment why the work is returned"):
        assignment_return(assignment=submitted, reviewer=reviewer, comment=" ")
    with pytest.raises(WorkspaceError, match="cannot review your own work"):
        assignment_return(assignment=submitted, reviewer=annotator, comment="mine")
    assignment_return(assignment=submitted, reviewer=reviewer, comment="again")
    with pytest.raises(WorkspaceError, match="Only submitted work can be reviewed"):
        assignment_review(assignment=submitted, reviewer=reviewer, decision="accepted", comment="")


def test_a_returned_claim_does_not_expire(project, submitted, reviewer):
    # given a returned claim left alone for longer than the claim timeout
    assignment_return(assignment=submitted, reviewer=reviewer, comment="again")
    Assignment.objects.filter(pk=submitted.pk).update(updated_at="2000-01-01T00:00:00Z")
    # when stale claims expire
    claims_expire_stale(project=project)
    # then it stays its annotator's
    assert Assignment.objects.get(pk=submitted.pk).status == AssignmentStatus.IN_PROGRESS


def test_the_page_of_submitted_work_is_read_only(client, submitted):
    page = client.get(f"/work/{submitted.pk}/")
    body = page.content.decode()
    assert page.context["read_only"] is True
    assert 'data-read-only="true"' in body
    assert 'id="submit"' not in body
    assert "workspace-skip" not in body and "Skip this item" not in body
    assert body.count(" disabled>") == 4 * 5 + 4  # the grade buttons and the finish reasons


def test_the_return_reaches_the_annotator_with_the_comment(client, submitted, reviewer):
    client.force_login(reviewer)
    response = client.post(
        f"/review/work/{submitted.pk}/", {"decision": "returned", "comment": "Look at step 2."}
    )
    assert response.status_code == 302
    client.force_login(submitted.annotator)
    page = client.get(f"/work/{submitted.pk}/").content.decode()
    assert 'data-read-only="false"' in page
    assert "Look at step 2." in page


def test_returned_work_is_marked_in_the_annotators_queue(client, submitted, reviewer):
    # given the reviewer returns the work with a comment
    client.force_login(reviewer)
    client.post(
        f"/review/work/{submitted.pk}/", {"decision": "returned", "comment": "Look at step 2."}
    )
    # when the annotator opens their queue
    client.force_login(submitted.annotator)
    page = client.get(f"/projects/{submitted.project_id}/work/").content.decode()
    # then the returned item says so, with the comment
    assert 'data-testid="returned">Returned to you</span>' in page
    assert "Look at step 2." in page
