"""Scorer evaluation against the human consensus on imported ProcessBench records."""

import math

import pytest

from algorithms.metrics import best_threshold, predicted_first_error, processbench_scores
from annotation.datasets.importer import import_dataset
from annotation.evaluation.selectors import (
    compare_sources,
    human_consensus,
    majority_rating,
    reference_traces,
)
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.problems.models import Trace
from tests.conftest import PRM800K_DIR
from tests.factories import ProblemFactory, UserFactory, trace_with_steps
from tests.support.data import import_processbench_rows

pytestmark = pytest.mark.django_db

# (ProcessBench label, PRM scores of the three steps); records 0, 2, 4 calibrate the threshold.
RECORDS = [
    (1, [0.9, 0.3, 0.8]),
    (-1, [0.9, 0.8, 0.7]),
    (-1, [0.8, 0.9, 0.6]),
    (0, [0.2, 0.9, 0.9]),
    (2, [0.7, 0.75, 0.4]),
    (2, [0.95, 0.5, 0.55]),
]


def import_processbench(project) -> list[Trace]:
    # The split is by trace id parity: make the first imported trace's id odd.
    if trace_with_steps(ProblemFactory(), []).pk % 2 == 1:
        trace_with_steps(ProblemFactory(), [])
    traces = import_processbench_rows(
        project, [label for label, _ in RECORDS], lambda i: f"Problem {i}: what is {i} + 1?"
    )
    assert [t.pk % 2 for t in traces] == [1, 0, 1, 0, 1, 0]
    return traces


def add_prm_scores(traces: list[Trace], name: str = "prm run") -> GradeSource:
    source = GradeSource.objects.create(kind=SourceKind.PRM, name=name)
    Grade.objects.bulk_create(
        Grade(node_id=step.node_id, source=source, trace=trace, score=scores[step.position])
        for trace, (_, scores) in zip(traces, RECORDS, strict=True)
        for step in trace.steps.all()
    )
    return source


def test_processbench_metric_equals_a_direct_computation(project):
    # given
    traces = import_processbench(project)
    source = add_prm_scores(traces)
    # when
    comparison = compare_sources(project)
    # then the platform's numbers are those computed directly from the fixture
    (row,) = comparison.rows
    calibration = [RECORDS[i] for i in (0, 2, 4)]
    evaluation = [RECORDS[i] for i in (1, 3, 5)]
    threshold = best_threshold([s for _, s in calibration], [label for label, _ in calibration])[
        "threshold"
    ]
    direct = processbench_scores(
        [predicted_first_error(s, threshold) for _, s in evaluation],
        [label for label, _ in evaluation],
    )
    assert row.source == source
    assert row.threshold == threshold == 0.5
    assert row.processbench == direct
    assert direct["error_acc"] == 0.5
    assert direct["correct_acc"] == 1.0
    assert math.isclose(direct["f1"], 2 / 3)
    assert (row.threshold_traces, row.processbench_traces) == (3, 3)
    assert (comparison.traces, comparison.calibration_traces) == (6, 3)


def test_step_metrics_auroc_and_calibration_on_the_evaluation_split(project):
    traces = import_processbench(project)
    add_prm_scores(traces)
    (row,) = compare_sources(project).rows
    # seven graded steps: record 1 (three good), record 3 (one bad), record 5 (two good, one bad)
    assert row.steps == 7
    assert math.isclose(row.step_accuracy, 6 / 7)
    assert (row.bad_precision, row.bad_recall) == (1.0, 0.5)
    assert math.isclose(row.bad_f1, 2 / 3)
    # one good step (0.5) scored below a bad one (0.55): 9 of 10 pairs ordered right
    assert math.isclose(row.auroc, 0.9)
    bins = {b["lower"]: b for b in row.calibration if b["count"]}
    assert sorted(bins) == [0.2, 0.5, 0.7, 0.8, 0.9]
    assert bins[0.5]["count"] == 2
    assert math.isclose(bins[0.5]["mean_score"], 0.525)
    assert bins[0.5]["positive_rate"] == 0.5


def test_a_source_of_ratings_only_has_no_auroc(project):
    traces = import_processbench(project)
    judge = GradeSource.objects.create(kind=SourceKind.JUDGE, name="judge run")
    Grade.objects.bulk_create(
        Grade(node_id=step.node_id, source=judge, trace=trace, rating=1)
        for trace in traces
        for step in trace.steps.all()
    )
    (row,) = compare_sources(project).rows
    assert row.auroc is None
    assert (row.bad_precision, row.bad_recall) == (0.0, 0.0)
    assert row.processbench["correct_acc"] == 1.0


def test_consensus_is_the_majority_of_people_and_datasets_ties_go_to_the_lowest(project):
    assert [majority_rating(r) for r in ([1, -1], [1, 1, -1], [0, 1], [])] == [-1, 1, 0, None]
    traces = import_processbench(project)
    node = traces[1].steps.get(position=0).node_id  # the dataset says +1
    for user, rating in ((UserFactory(), -1), (UserFactory(), -1)):
        source = GradeSource.objects.create(kind=SourceKind.HUMAN, name=user.username, user=user)
        Grade.objects.create(node_id=node, source=source, trace=traces[1], rating=rating)
    assert human_consensus([node]) == {node: -1}
    labeled = {t.trace_id: t for t in reference_traces(project)}
    assert labeled[traces[1].pk].first_error == 0
    assert labeled[traces[3].pk].consensus == [-1, None, None]
    assert labeled[traces[3].pk].first_error == 0


def test_comparison_reads_a_fixed_number_of_queries(project, django_assert_num_queries):
    traces = import_processbench(project)
    add_prm_scores(traces, "first")
    add_prm_scores(traces, "second")
    with django_assert_num_queries(6):
        comparison = compare_sources(project)
    assert [row.source.name for row in comparison.rows] == ["first", "second"]


def test_imported_prm800k_grades_are_reference_labels(project):
    # given the PRM800K sample file and a PRM that scores every path step 0.7
    with (PRM800K_DIR / "prm800k_raw_samples.jsonl").open("rb") as stream:
        import_dataset(project=project, format_name="prm800k", stream=stream, grade_answers=False)
    traces = list(Trace.objects.filter(problem__project=project))
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="flat prm")
    nodes = {
        node
        for trace in traces
        for node in trace.steps.filter(on_path=True).values_list("node_id", flat=True)
    }
    Grade.objects.bulk_create(Grade(node_id=node, source=prm, score=0.7) for node in nodes)
    # when
    comparison = compare_sources(project)
    labeled = reference_traces(project)
    # then every graded trace is a reference, and the flat PRM calls no step bad
    assert comparison.traces == len(labeled) > 0
    (row,) = comparison.rows
    evaluated = {
        node
        for t in labeled
        if not t.calibration
        for node, rating in zip(t.nodes, t.consensus, strict=True)
        if rating is not None
    }
    assert row.steps == len(evaluated)
    assert row.bad_precision == 0.0
    assert row.auroc is None or row.auroc == 0.5
