"""A superseded grade is history: no reader shows, exports, counts or orders by it."""

import io
import json

import pytest
from django.utils import timezone

from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.prm800k_rows import labeler_id
from annotation.datasets.exporter import export_dataset
from annotation.evaluation.selectors import compare_sources, disagreement_order, human_consensus
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.grading.services import StepGrade, person_grades_write, person_source
from annotation.workspace.models import Assignment, AssignmentStatus, ItemKind
from annotation.workspace.quality import gold_scores
from annotation.workspace.review import trace_review
from annotation.workspace.selectors import grading_steps
from annotation.workspace.services.gold import gold_mark
from tests.factories import ProblemFactory, UserFactory, trace_with_steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def regraded(project):
    """A person rated step 1 +1 then -1, and step 2 +1 then took it back; a PRM scored step 1
    0.9, and an older, superseded score of 0.5 is kept as history."""
    problem = ProblemFactory(project=project)
    trace = trace_with_steps(problem, ["x = 1.", "So x + 1 = 3."])
    if trace.pk % 2:  # compare_sources evaluates traces with even ids (odd ones calibrate)
        trace.delete()  # ids are not reused: the next trace's id is even
        trace = trace_with_steps(problem, ["x = 1.", "So x + 1 = 3."])
    first, second = trace.steps.order_by("position").values_list("node_id", flat=True)
    user = UserFactory(username="ann")
    source = person_source(user=user)
    for wanted in (
        {first: StepGrade(1, False), second: StepGrade(1, False)},
        {first: StepGrade(-1, False), second: StepGrade(None, False)},
    ):
        person_grades_write(source=source, trace_id=trace.pk, wanted=wanted, with_critique=True)
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm")
    Grade.objects.create(node_id=first, source=prm, trace=trace, score=0.5, is_current=False)
    Grade.objects.create(node_id=first, source=prm, trace=trace, score=0.9)
    Assignment.objects.create(
        project=project,
        kind=ItemKind.GRADE,
        problem=problem,
        trace=trace,
        annotator=user,
        status=AssignmentStatus.SUBMITTED,
        claimed_at=timezone.now(),
    )
    return {"trace": trace, "nodes": (first, second), "user": user, "source": source}


def exported(project, format_name, **options):
    out = io.StringIO()
    options = ExportOptions(format=format_name, **options)
    export_dataset(project=project, format_name=format_name, out=out, options=options)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_exports_carry_current_grades_only(project, regraded):
    # when
    given_in_trace = exported(project, "prm800k")
    by_annotator = exported(project, "prm800k", grades="annotator", annotator="ann")
    # then
    ann = labeler_id(project.pk, "user:ann")
    for rows in (given_in_trace, by_annotator):
        (row,) = (row for row in rows if row["labeler"] == ann)
        steps = [s["completions"][s["chosen_completion"]] for s in row["label"]["steps"]]
        assert [s["rating"] for s in steps] == [-1, None]
    # the run's score given in the trace (a score, no rating) is a row of its own only when
    # rows without ratings are asked for
    assert [row["labeler"] for row in given_in_trace] == [ann]
    kept = exported(project, "prm800k", keep_unlabeled=True)
    assert [row["labeler"] for row in kept] == [ann, "prm"]


def test_the_api_lists_current_grades_only(client, project, regraded):
    # given
    client.force_login(UserFactory(username="admin", is_superuser=True))
    # when
    listed = client.get(f"/api/grades/?trace={regraded['trace'].pk}").json()["results"]
    history = client.get(f"/api/grades/?trace={regraded['trace'].pk}&is_current=false").json()
    # then
    assert sorted((g["source_name"], g["rating"], g["score"]) for g in listed) == [
        ("prm", None, 0.9),
        ("user:ann", -1, None),
    ]
    assert len(history["results"]) == 3


def test_the_review_and_grading_pages_show_current_grades_only(project, regraded):
    # given machine suggestions shown to annotators
    project.show_machine_suggestions = True
    project.save()
    assignment = Assignment.objects.get()
    # when
    rows = trace_review(trace=regraded["trace"]).rows
    steps = grading_steps(assignment=assignment)
    # then
    assert [row.cells[0].rating if row.cells[0] else None for row in rows] == [-1, None]
    assert [s.suggestion for s in steps] == [0.9, None]


def test_evaluation_and_gold_use_current_grades_only(project, regraded):
    # given the person's grades as gold
    gold_mark(trace=regraded["trace"], source=regraded["source"])
    first, second = regraded["nodes"]
    # when
    consensus = human_consensus([first, second])
    comparison = compare_sources(project)
    gold = gold_scores(project=project, kind="qc")
    # then
    assert consensus == {first: -1}
    assert [(row.source.name, row.steps) for row in comparison.rows] == [("prm", 1)]
    assert (gold[regraded["user"].pk].steps, gold[regraded["user"].pk].correct_steps) == (1, 1)


def test_the_queue_orders_by_current_machine_scores_only(project, regraded):
    # when: the only current score (0.9) is fairly sure; the superseded 0.5 would be the most
    # unsure value there is
    ordered = list(disagreement_order(project))
    # then
    assert [(t.pk, round(t.disagreement, 6)) for t in ordered] == [(regraded["trace"].pk, 0.2)]
