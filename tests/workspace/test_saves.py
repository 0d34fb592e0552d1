import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.core.models import Role
from annotation.grading.models import Grade
from annotation.grading.services import StepGrade, person_grades_write, person_source
from annotation.problems.models import StepNode, Trace
from annotation.workspace.models import Assignment, AssignmentStatus, ItemKind
from annotation.workspace.quality import gold_scores
from annotation.workspace.selectors import project_agreement
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.gold import gold_mark
from tests.factories import MembershipFactory, ProblemFactory, UserFactory
from tests.workspace.conftest import FIVE_STEPS
from tests.workspace.test_agreement_job import agreement_by_job


def put(client, assignment, body):
    return client.put(
        f"/api/work/{assignment.pk}/draft", json.dumps(body), content_type="application/json"
    )


def post(client, assignment, body):
    return client.post(
        f"/api/work/{assignment.pk}/submit", json.dumps(body), content_type="application/json"
    )


def node_ids(trace):
    return [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]


@pytest.fixture
def claim(project, annotator, trace, client):
    client.force_login(annotator)
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)


def test_save_writes_grades_and_bumps_the_version(client, claim, trace, annotator):
    nodes = node_ids(trace)
    # (the claim two minutes old: time on the item counts no more than passed since it)
    Assignment.objects.filter(pk=claim.pk).update(claimed_at=timezone.now() - timedelta(minutes=2))
    # when two steps are rated
    response = put(
        client,
        claim,
        {
            "version": 1,
            "grades": {nodes[0]: {"rating": 1}, nodes[1]: {"rating": 0, "unsure": True}},
            "time_spent_ms": 4200,
        },
    )

    # then
    assert response.status_code == 200
    assert response.json() == {"version": 2}
    current = Grade.objects.filter(source__user=annotator, is_current=True)
    assert sorted((str(g.node_id), g.rating, g.unsure) for g in current) == sorted(
        [(nodes[0], 1, False), (nodes[1], 0, True)]
    )
    claim.refresh_from_db()
    assert (claim.version, claim.time_spent_ms) == (2, 4200)


def test_changed_grade_keeps_history(client, claim, trace, annotator):
    nodes = node_ids(trace)
    put(client, claim, {"version": 1, "grades": {nodes[0]: {"rating": 1}}})
    put(client, claim, {"version": 2, "grades": {nodes[0]: {"rating": 1}}})  # unchanged
    put(client, claim, {"version": 3, "grades": {nodes[0]: {"rating": -1}}})

    rows = list(
        Grade.objects.filter(source__user=annotator)
        .order_by("id")
        .values_list("rating", "is_current")
    )
    assert rows == [(1, False), (-1, True)]


def test_new_grade_version_leaves_machine_columns_to_their_database_defaults(claim, annotator):
    source = person_source(user=annotator)
    node = claim.trace.steps.get(position=0).node_id
    wanted = {node: StepGrade(rating=0, unsure=True, critique="why")}

    written = person_grades_write(
        source=source, trace_id=claim.trace_id, wanted=wanted, with_critique=True
    )

    grade = Grade.objects.get(source=source)
    assert written == 1
    assert (grade.node_id, grade.trace_id, grade.rating, grade.unsure, grade.critique) == (
        node,
        claim.trace_id,
        0,
        True,
        "why",
    )
    assert (grade.is_current, grade.reason, grade.score, grade.flagged) == (True, "", None, None)


def test_stale_save_gets_409_with_the_stored_version(client, claim, trace):
    nodes = node_ids(trace)
    put(client, claim, {"version": 1, "grades": {nodes[0]: {"rating": 1}}})

    # when another window saves on version 1 again
    response = put(client, claim, {"version": 1, "grades": {nodes[0]: {"rating": -1}}})

    # then nothing is overwritten and the stored state comes back
    assert response.status_code == 409
    body = response.json()
    assert body["version"] == 2
    assert body["current"] == {"grades": {nodes[0]: {"rating": 1}}}
    assert "another window (version 2)" in body["error"]
    assert Grade.objects.get(is_current=True).rating == 1


def test_bad_rating_is_refused_with_the_step_number(client, claim, trace):
    nodes = node_ids(trace)
    response = put(client, claim, {"version": 1, "grades": {nodes[2]: {"rating": 5}}})
    assert response.status_code == 400
    assert response.json() == {"error": "Step 3: rating must be -1, 0, 1 or null."}


def test_other_annotator_may_not_save(client, claim, project):
    other = UserFactory(username="other")
    MembershipFactory(project=project, user=other, role=Role.ANNOTATOR)
    client.force_login(other)
    response = put(client, claim, {"version": 1})
    assert response.status_code == 403


def commit_mode():
    """synchronous_commit as the test's transaction now has it (a request's transaction is a
    savepoint of the test's: what it set for its commit stays until the test's ends)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        mode = cursor.fetchone()[0]
        cursor.execute("SET LOCAL synchronous_commit TO DEFAULT")
    return mode


def test_autosave_commits_without_waiting_for_the_disk_and_submit_waits(
    client, claim, trace, settings
):
    nodes = node_ids(trace)
    grades = {nodes[0]: {"rating": 1}}
    # when an autosave runs, then the same with the setting off, then a submit
    assert put(client, claim, {"version": 1, "grades": grades}).status_code == 200
    autosave = commit_mode()
    settings.STEPWISE_AUTOSAVE_ASYNC_COMMIT = False
    assert put(client, claim, {"version": 2, "grades": grades}).status_code == 200
    autosave_off = commit_mode()
    body = {"version": 3, "grades": grades, "finish_reason": "give_up"}
    assert post(client, claim, body).status_code == 200
    submit = commit_mode()

    # then only the first one's commit does not wait for the disk's flush
    assert (autosave, autosave_off, submit) == ("off", "on", "on")


def test_submit_found_error_with_critique_and_correction(client, claim, trace, annotator):
    # The corrected step continues the annotator's path: docs/annotators.md
    # given the project stops at the first bad step (the default)
    nodes = node_ids(trace)
    grades = {
        nodes[0]: {"rating": 1},
        nodes[1]: {
            "rating": -1,
            "critique": "2 squared is 4, fine, but",
            "correction": "Then $x^2=4$, so",
        },
    }

    # (the claim two minutes old: time on the item counts no more than passed since it)
    Assignment.objects.filter(pk=claim.pk).update(claimed_at=timezone.now() - timedelta(minutes=2))
    # when submitted as a solution
    response = post(
        client,
        claim,
        {"version": 1, "grades": grades, "finish_reason": "solution", "time_spent_ms": 9000},
    )

    # then it is found_error, the critique is on the -1 grade, and the corrected step is the
    # annotator's step 2: their own path, with the step it corrects beside it
    assert response.status_code == 200
    claim.refresh_from_db()
    assert (claim.status, claim.finish_reason, claim.time_spent_ms) == (
        AssignmentStatus.SUBMITTED,
        "found_error",
        9000,
    )
    bad = Grade.objects.get(node_id=nodes[1], is_current=True)
    assert (bad.rating, bad.critique, bad.trace_id) == (
        -1,
        "2 squared is 4, fine, but",
        claim.work_trace_id,
    )
    sibling = StepNode.objects.get(text="Then $x^2=4$, so")
    assert str(sibling.parent_id) == nodes[0]
    assert not Grade.objects.filter(node=sibling).exists()  # a human completion: no rating
    own = claim.work_trace
    assert (own.origin, own.source_trace_id, own.author) == ("labeled", trace.pk, annotator)
    assert list(
        own.steps.order_by("position", "option").values_list(
            "position", "node__text", "option", "on_path", "extra"
        )
    ) == [
        (0, FIVE_STEPS[0], None, True, None),
        (1, FIVE_STEPS[1], 0, False, None),
        (1, "Then $x^2=4$, so", None, True, {"source": "human"}),
    ]
    assert Grade.objects.get(node_id=nodes[0], is_current=True).trace_id == own.pk


def test_submit_solution_needs_every_step_rated(client, claim, trace):
    nodes = node_ids(trace)
    response = post(
        client,
        claim,
        {"version": 1, "grades": {nodes[0]: {"rating": 1}}, "finish_reason": "solution"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Rate every step before finishing as solution; not rated: 2, 3, 4, 5."
    )


def test_thought_record_submit(client, project, annotator):
    problem = ProblemFactory(project=project, text="What is $1+1$?", answer="2")
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.RECORD)
    thoughts = [
        {"kind": "attempt", "text": "Maybe 3?"},
        {"kind": "backtrack", "text": "No: one and one make two.", "backtrack_to": 1},
        {"kind": "explanation", "text": "Adding one counts one further."},
        {"kind": "conclusion", "text": "So $1+1=2$."},
    ]
    body = {"version": 1, "thoughts": thoughts, "final_answer": "2", "finish_reason": "solution"}

    # the checklist must be ticked
    refused = post(client, claim, body)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("Tick both checklist items")

    response = post(
        client, claim, {**body, "checklist": {"attempts": True, "common_knowledge": True}}
    )

    assert response.status_code == 200
    assert response.json()["is_correct"] is True
    record = Trace.objects.get(origin="thought_record")
    assert (record.author, record.problem, record.final_answer) == (annotator, problem, "2")
    steps = list(
        record.steps.order_by("position").values_list("node__kind", "backtrack_to", "node__text")
    )
    assert steps == [
        ("attempt", None, "Maybe 3?"),
        ("backtrack", 0, "No: one and one make two."),
        ("explanation", None, "Adding one counts one further."),
        ("conclusion", None, "So $1+1=2$."),
    ]


def test_backtrack_must_name_an_earlier_thought(client, project, annotator):
    ProblemFactory(project=project)
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.RECORD)
    response = post(
        client,
        claim,
        {
            "version": 1,
            "thoughts": [{"kind": "backtrack", "text": "no"}],
            "final_answer": "2",
            "finish_reason": "solution",
            "checklist": {"attempts": True, "common_knowledge": True},
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Thought 1 is a backtrack: say which earlier thought (1 to 0) it abandons."
    )


def test_review_agreement_and_gold(client, project, trace):
    # given two annotators who disagree on step 3 of a gold trace
    project.overlap = 2
    project.save()
    users = [UserFactory(username=n) for n in ("ann1", "ann2")]
    for user in users:
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    reviewer = UserFactory(username="rev")
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    nodes = node_ids(trace)
    reference = users[0]
    for user, ratings in zip(users, ([1, 1, 1, 1, 1], [1, 1, -1]), strict=True):
        claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
        client.force_login(user)
        grades = {nodes[i]: {"rating": r} for i, r in enumerate(ratings)}
        finish = "solution" if len(ratings) == 5 else "found_error"
        assert (
            post(
                client, claim, {"version": 1, "grades": grades, "finish_reason": finish}
            ).status_code
            == 200
        )
    gold_mark(trace=trace, source=person_source(user=reference))

    # when the reviewer looks and accepts ann2's work
    client.force_login(reviewer)
    page = client.get(f"/review/traces/{trace.pk}/")
    second = trace.assignments.get(annotator=users[1])
    decided = client.post(f"/review/work/{second.pk}/", {"decision": "accepted", "comment": "ok"})

    # then
    assert page.status_code == 200
    assert [a.annotator.username for a in page.context["assignments"]] == ["ann1", "ann2"]
    assert [[c.rating if c else None for c in row.cells] for row in page.context["rows"]] == [
        [1, 1],
        [1, 1],
        [1, -1],
        [1, None],
        [1, None],
    ]
    assert decided.status_code == 302
    second.refresh_from_db()
    assert (second.review_status, second.reviewer) == ("accepted", reviewer)
    overall, per_user = project_agreement(project=project)
    assert agreement_by_job(project) == (overall, per_user)  # the dashboard's, from its job
    assert per_user[users[0].pk].first_error == 0.0
    assert overall.first_error == 0.0
    assert overall.items == 1
    gold = gold_scores(project=project, kind="qc")
    # ann2 rated 3 of the 5 steps the reference rates, 2 as it does
    assert (gold[users[0].pk].step_accuracy, gold[users[1].pk].step_accuracy) == (1.0, 2 / 5)
    assert gold[users[1].pk].first_error_accuracy == 0.0
