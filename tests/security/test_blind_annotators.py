"""Blind labeling: an annotator's responses hold their own current grades and what the project
chooses to show, nothing else; reviewers, researchers and admins see everything.

Every hidden thing carries a marker string; a response leaks it when the marker is in its body.
A new endpoint that returns grades, problems or traces goes into ENDPOINTS (API) or PAGES.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from annotation.core.models import Role
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.problems.models import Origin, Trace
from annotation.workspace.models import GoldItem, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

MARKERS = {
    "mine": "mine-current-critique",
    "mine_retired": "mine-retired-critique",
    "other": "other-annotator-critique",
    "gold": "gold-reference-critique",
    "prm": "prm-suggestion-reason",
    "monte_carlo": "monte-carlo-reason",
    "answer": "answer-ground-truth",
    "solution": "solution-ground-truth",
    "qc": "is_quality_control_question",
    "screening": "is_initial_screening_question",
    "other_record": "other-record-thought",
    "suggestion_on_page": "Model score",
    # why the item was given (Assignment.purpose, GoldItem.kind): never said to an annotator
    "purpose": "Quality control",
}
GRADES = {"mine", "mine_retired", "other", "gold", "prm", "monte_carlo"}
CURRENT_GRADES = GRADES - {"mine_retired"}  # /api/grades/ lists history only when asked
GROUND_TRUTH = {"answer", "solution"}

# (URL, the markers its body may hold for someone who sees everything)
ENDPOINTS = [
    ("/api/grades/", CURRENT_GRADES),
    ("/api/grades/?trace={trace}", CURRENT_GRADES),
    ("/api/grades/?trace={trace}&is_current=false", {"mine_retired"}),
    ("/api/grades/{other_grade}/", {"other"}),
    ("/api/grades/{gold_grade}/", {"gold"}),
    ("/api/grades/{monte_carlo_grade}/", {"monte_carlo"}),
    ("/api/problems/", GROUND_TRUTH),
    ("/api/problems/{problem}/", GROUND_TRUTH),
    ("/api/traces/", {"qc", "screening", "other_record"}),
    ("/api/traces/{trace}/", {"qc", "screening"}),
    ("/api/traces/{record}/", {"other_record"}),
    # The browsable API, with its filter forms
    ("/api/grades/?format=api", CURRENT_GRADES),
    ("/api/traces/?format=api", {"qc", "screening", "other_record"}),
    ("/api/problems/?format=api", GROUND_TRUTH),
    # The grading page's continuation status, the admins' gold list (403 for the others)
    ("/api/work/{assignment}/continuation", set()),
    ("/api/projects/{project}/gold", set()),
]
# Pages an annotator opens: (URL, the markers it may hold)
PAGES = [
    ("/work/{assignment}/", {*GROUND_TRUTH, "suggestion_on_page"}),
    ("/projects/{project}/work/", set()),
    ("/projects/{project}/", set()),
    ("/", set()),
    # Admins' pages: a styled 403 for an annotator
    ("/projects/{project}/quality/", set()),
    ("/projects/{project}/dashboard/", set()),
]


@dataclass
class World:
    ids: dict[str, int]
    annotator: Any
    project: Any
    trace: Trace


def grade(node: Any, source: GradeSource, trace: Trace, **fields: Any) -> Grade:
    return Grade.objects.create(node_id=node, source=source, trace=trace, **fields)


def make_world(project: Any, *, ground_truth: bool, suggestions: bool) -> World:
    project.show_ground_truth = ground_truth
    project.show_machine_suggestions = suggestions
    project.qc_rate = 1.0  # the annotator's item is a QC item, and must not look like one
    project.save()
    annotator = UserFactory(username="ann")
    other = UserFactory(username="other")
    for user in (annotator, other):
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    problem = ProblemFactory(
        project=project, answer=MARKERS["answer"], solution=MARKERS["solution"]
    )
    trace = trace_with_steps(
        problem,
        ["Let $x = 2$.", "So $x + 1 = 3$."],
        finish_reason="found_error",
        is_correct=True,
        time_spent_ms=1234,
        metadata={
            "prm800k": {
                "labeler": "someone",
                "is_quality_control_question": True,
                "is_initial_screening_question": False,
            }
        },
    )
    record = trace_with_steps(
        problem, [MARKERS["other_record"]], origin=Origin.THOUGHT_RECORD, author=other
    )
    first, second = trace.steps.order_by("position").values_list("node_id", flat=True)
    mine = GradeSource.objects.create(kind=SourceKind.HUMAN, name="user:ann", user=annotator)
    theirs = GradeSource.objects.create(kind=SourceKind.HUMAN, name="user:other", user=other)
    gold = GradeSource.objects.create(kind=SourceKind.DATASET, name="prm800k:gold")
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm-run")
    monte_carlo = GradeSource.objects.create(kind=SourceKind.MONTE_CARLO, name="mc-run")
    grade(first, mine, trace, rating=0, critique=MARKERS["mine_retired"], is_current=False)
    grade(first, mine, trace, rating=1, critique=MARKERS["mine"])
    other_grade = grade(first, theirs, trace, rating=-1, critique=MARKERS["other"])
    gold_grade = grade(second, gold, trace, rating=-1, critique=MARKERS["gold"])
    grade(first, prm, trace, score=0.3141, reason=MARKERS["prm"])
    mc_grade = grade(second, monte_carlo, trace, score=0.5, reason=MARKERS["monte_carlo"])
    GoldItem.objects.create(trace=trace, source=gold)
    assignment = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    assert assignment is not None and assignment.trace_id == trace.pk
    ids = {
        "project": project.pk,
        "problem": problem.pk,
        "trace": trace.pk,
        "record": record.pk,
        "assignment": assignment.pk,
        "other_grade": other_grade.pk,
        "gold_grade": gold_grade.pk,
        "monte_carlo_grade": mc_grade.pk,
    }
    return World(ids, annotator, project, trace)


def markers_in(client: Client, url: str) -> set[str]:
    body = client.get(url).content.decode()
    return {name for name, marker in MARKERS.items() if marker in body}


def annotator_may_see(*, ground_truth: bool, suggestions: bool) -> set[str]:
    shown = {"mine"}
    if ground_truth:
        shown |= GROUND_TRUTH
    if suggestions:
        shown |= {"prm", "suggestion_on_page"}
    return shown


FLAGS = [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize(("ground_truth", "suggestions"), FLAGS)
@pytest.mark.parametrize(("url", "carries"), ENDPOINTS + PAGES)
def test_an_annotator_sees_only_their_own_grades_and_what_the_project_shows(
    project, client, url, carries, ground_truth, suggestions
):
    # given
    world = make_world(project, ground_truth=ground_truth, suggestions=suggestions)
    client.force_login(world.annotator)
    # when
    seen = markers_in(client, url.format(**world.ids))
    # then
    assert seen == carries & annotator_may_see(ground_truth=ground_truth, suggestions=suggestions)


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.RESEARCHER, Role.ADMIN, "superuser"])
@pytest.mark.parametrize(("url", "carries"), ENDPOINTS)
def test_reviewers_researchers_and_admins_see_everything(project, client, url, carries, role):
    # given: a project that hides everything from annotators
    world = make_world(project, ground_truth=False, suggestions=False)
    if role == "superuser":
        viewer = UserFactory(username="root", is_superuser=True)
    else:
        viewer = MembershipFactory(project=project, role=role).user
    client.force_login(viewer)
    # when
    seen = markers_in(client, url.format(**world.ids))
    # then
    assert seen == carries


def test_an_annotator_sees_no_verdict_on_a_trace_they_did_not_write(project, client):
    # given
    world = make_world(project, ground_truth=False, suggestions=False)
    client.force_login(world.annotator)
    # when
    trace = client.get(f"/api/traces/{world.trace.pk}/").json()
    # then
    assert {key: trace[key] for key in VERDICT_FIELDS} == {
        "author": None,
        "finish_reason": None,
        "is_correct": None,
        "time_spent_ms": None,
        "metadata": {},
    }


VERDICT_FIELDS = ("author", "finish_reason", "is_correct", "time_spent_ms", "metadata")


def test_a_reviewer_sees_the_verdicts(project, client):
    # given
    world = make_world(project, ground_truth=False, suggestions=False)
    client.force_login(MembershipFactory(project=project, role=Role.REVIEWER).user)
    # when
    trace = client.get(f"/api/traces/{world.trace.pk}/").json()
    # then
    assert {key: trace[key] for key in VERDICT_FIELDS} == {
        "author": None,
        "finish_reason": "found_error",
        "is_correct": True,
        "time_spent_ms": 1234,
        "metadata": world.trace.metadata,
    }


# (query on /api/traces/ of the project, traces an annotator finds, traces a reviewer finds)
TRACE_FILTERS = [
    ("source=user:ann", 1, 1),
    ("source=user:other", 0, 1),
    ("source=prm800k:gold", 0, 1),
    ("source=prm-run", 0, 1),
    ("correct=true", 0, 1),
    ("finish_reason=found_error", 0, 1),
    ("origin=thought_record", 0, 1),
]


@pytest.mark.parametrize(("query", "for_annotator", "for_reviewer"), TRACE_FILTERS)
def test_trace_filters_do_not_reveal_what_is_hidden(
    project, client, query, for_annotator, for_reviewer
):
    # given
    world = make_world(project, ground_truth=False, suggestions=False)
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    url = f"/api/traces/?project={project.pk}&{query}"
    # when
    client.force_login(world.annotator)
    annotator_count = len(client.get(url).json()["results"])
    client.force_login(reviewer)
    reviewer_count = len(client.get(url).json()["results"])
    # then
    assert (annotator_count, reviewer_count) == (for_annotator, for_reviewer)


@pytest.mark.parametrize(("ground_truth", "shown"), [(False, False), (True, True)])
def test_a_record_submit_tells_correctness_only_when_the_project_shows_ground_truth(
    project, client, ground_truth, shown
):
    # given: an annotator's record whose answer matches the ground truth
    project.show_ground_truth = ground_truth
    project.save()
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    ProblemFactory(project=project, answer="5")
    assignment = assignment_claim_next(project=project, user=annotator, kind=ItemKind.RECORD)
    client.force_login(annotator)
    body = {
        "version": assignment.version,
        "thoughts": [{"kind": "attempt", "text": "2 + 3 = 5"}],
        "final_answer": "5",
        "finish_reason": "solution",
        "checklist": {"attempts": True, "common_knowledge": True},
    }
    # when
    response = client.post(
        f"/api/work/{assignment.pk}/submit", json.dumps(body), content_type="application/json"
    )
    # then
    assert response.status_code == 200
    assert ("is_correct" in response.json()) is shown
