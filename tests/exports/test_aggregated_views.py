"""The views PostgreSQL builds in one statement per chunk (aggregated_trace_views) are the
views the three-query loader builds (load_trace_views, the path other databases take), on
random trees graded by several sources, with current and superseded grades."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.datasets.export import selection
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import iter_rows
from annotation.datasets.export.selection import Splitter
from annotation.grading.models import SourceKind
from annotation.grading.services import (
    Score,
    StepGrade,
    dataset_source,
    imported_grades_copy,
    model_run_source,
    monte_carlo_labels_write,
    monte_carlo_source,
    person_grades_write,
    run_scores_write,
)
from annotation.grading.step_grades import GradeChoice
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import Origin, Trace, TraceStep
from annotation.problems.selectors import TraceView, aggregated_trace_views, load_trace_views
from annotation.problems.services import NewStep, NewTrace, trace_create
from annotation.workspace.review_filter import grades_passing
from tests.exports.conftest import human_source, make_problem
from tests.factories import ProjectFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the aggregated statement is PostgreSQL's"
)

EXTRAS = st.one_of(
    st.none(),
    st.just({"source": "human"}),
    st.just({"no_flagged": True, "note": "kept", "weight": 1.0}),
    st.just({"nested": {"list": [1, 2.5, None, "x"]}}),
)
# (text, alternatives offered beside it, the path's option among them, extra)
STEP = st.tuples(
    st.sampled_from(["a", "b", "c", "it's \\boxed{5}"]),
    st.integers(0, 2),
    st.integers(0, 2),
    EXTRAS,
)
TRACE = st.tuples(st.lists(STEP, max_size=4), st.booleans())  # steps, from an earlier trace
SOURCES = ("ann", "bob", "cid", "dataset", "run", "mc1", "mc2")
# (source, trace, step, rating, score, flagged): indices taken modulo what exists
GRADE = st.tuples(
    st.sampled_from(SOURCES),
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from([-1, 0, 1, None]),
    st.sampled_from([0.0, 1.0, 0.1, 0.5, 1e-05, 0.999999]),
    st.sampled_from([True, False, None]),
)


@dataclass
class Graded:
    project: Any
    sources: dict[str, Any]


def build(traces: list[tuple[list[tuple[str, int, int, Any]], bool]], grades: list) -> Graded:
    """A project with one problem, the traces (sharing prefixes where their texts agree, with
    alternatives at some positions) and the grades, written through the services."""
    project = ProjectFactory()
    problem = make_problem(project, f"p{project.pk}", "What is 2 + 3?", answer="5")
    made: list[Trace] = []
    for steps, derived in traces:
        new_steps = []
        for position, (text, alternatives, chosen, extra) in enumerate(steps):
            if not alternatives:
                new_steps.append(NewStep(position, text, extra=extra))
                continue
            for option in range(alternatives + 1):
                on_path = option == min(chosen, alternatives)
                shown = text if on_path else f"{text} (alt {option})"
                new_steps.append(NewStep(position, shown, option=option, on_path=on_path))
        made.append(
            trace_create(
                NewTrace(
                    problem_id=problem.pk,
                    origin=Origin.MODEL_SAMPLE,
                    steps=new_steps,
                    source_trace_id=made[-1].pk if derived and made else None,
                    metadata={"n": len(made), "prm800k": {"label": {"steps": 1}, "question": {}}},
                )
            )
        )
    job = Job.objects.create(project=project, kind=JobKind.SCORE)
    mc_jobs = [Job.objects.create(project=project, kind=JobKind.MONTE_CARLO) for _ in range(2)]
    sources = {
        "ann": human_source(f"ann{project.pk}"),
        "bob": human_source(f"bob{project.pk}"),
        "cid": human_source(f"cid{project.pk}"),
        "dataset": dataset_source(name=f"labeler {project.pk}"),
        "run": model_run_source(job=job, label="prm"),
        "mc1": monte_carlo_source(job=mc_jobs[0], description="first"),
        "mc2": monte_carlo_source(job=mc_jobs[1], description="second"),
    }
    steps = list(TraceStep.objects.filter(trace__in=made).order_by("trace_id", "position", "id"))
    for name, t, s, rating, score, flagged in grades if steps else []:
        step = steps[(t * 4 + s) % len(steps)]  # often the same node: votes, versions
        source = sources[name]
        if name in ("ann", "bob", "cid"):
            # a rating replaces the person's current grade of the node; None withdraws it
            person_grades_write(
                source=source,
                trace_id=step.trace_id,
                wanted={step.node_id: StepGrade(rating, unsure=False)},
                with_critique=False,
            )
        elif name == "dataset":
            # a second import of a node's grade is kept as history
            rating = 0 if rating is None else rating  # an imported grade has a rating
            row = [step.node_id, source.pk, step.trace_id, rating, flagged, None, timezone.now()]
            imported_grades_copy([row], set())
        elif name == "run":
            run_scores_write(source=source, scores=[Score(step.node_id, step.trace_id, score)])
        else:
            label = mock.Mock(trace_id=step.trace_id, rating=rating or 1, score=score)
            label.inferred = rating is None
            monte_carlo_labels_write(source=source, labels={step.node_id: label})
    return Graded(project, sources)


def comparable(views: list[TraceView]) -> list[tuple[Any, ...]]:
    return [
        (
            view.trace.pk,
            view.trace.problem.pk,
            view.trace.problem.text,
            view.trace.metadata,
            view.trace.created_at,
            view.trace.source_trace.metadata if view.trace.source_trace else None,
            view.grader,
            [
                (*astuple_without_node(step), asdict(step.grade) if step.grade else None)
                for step in view.steps
            ],
        )
        for view in views
    ]


def astuple_without_node(step: Any) -> tuple[Any, ...]:
    return (step.position, step.option, step.on_path, step.text, step.kind, step.extra)


def choices(graded: Graded) -> list[GradeChoice]:
    human = Q(source__kind=SourceKind.HUMAN)
    return [
        GradeChoice("by_source"),
        GradeChoice("latest", Q(source=graded.sources["ann"]) & grades_passing("not_rejected")),
        GradeChoice("latest", Q(source=graded.sources["run"])),
        GradeChoice("latest", Q(source__kind=SourceKind.MONTE_CARLO)),
        GradeChoice("majority", human & grades_passing("not_rejected")),
        GradeChoice("majority", human & grades_passing("accepted")),
    ]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(traces=st.lists(TRACE, min_size=1, max_size=4), grades=st.lists(GRADE, max_size=25))
def test_aggregated_views_equal_the_loaders_views(db, traces, grades):
    with rolled_back():
        aggregated_views_equal_the_loaders_views(traces, grades)


def aggregated_views_equal_the_loaders_views(traces, grades):
    # given random trees graded by people, a dataset, a PRM run and two Monte-Carlo runs
    graded = build(traces, grades)
    page = Trace.objects.filter(problem__project=graded.project).order_by("problem_id", "pk")
    for choice in choices(graded):
        # when both readings load the traces' views under each grade choice
        loaded = load_trace_views(
            list(page.select_related("problem", "source_trace")), choice.loader()
        )
        aggregated = aggregated_trace_views(page[:100], choice)
        # then they are the same views (the aggregated ones carry no node ids)
        assert comparable(aggregated) == comparable(loaded), choice.combine


TRACE_FORMATS = ["trl-stepwise", "openr", "qwen-prm", "math-shepherd", "prm800k", "processbench"]
GRADES = [
    {"grades": "trace"},
    {"grades": "majority"},
    {"grades": "majority", "review": "all", "min_agreement": 0.6},
    {"grades": "monte_carlo", "soft_labels": True},
]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(traces=st.lists(TRACE, min_size=1, max_size=4), grades=st.lists(GRADE, max_size=25))
def test_every_trace_format_writes_the_same_rows_either_way(db, traces, grades):
    with rolled_back():
        every_trace_format_writes_the_same_rows_either_way(traces, grades)


def every_trace_format_writes_the_same_rows_either_way(traces, grades):
    # given random graded trees
    graded = build(traces, grades)
    for format_name in TRACE_FORMATS:
        for extra in GRADES:
            if extra.get("soft_labels") and format_name not in ("trl-stepwise", "math-shepherd"):
                continue
            options = ExportOptions(format=format_name, **extra)
            # when the export reads in one statement per chunk, and by the loader
            aggregated = rows_of(graded.project, options)
            with mock.patch.object(selection, "connection", mock.Mock(vendor="sqlite")):
                loaded = rows_of(graded.project, options)
            # then the rows and what was counted are the same
            assert aggregated == loaded, (format_name, extra)


@contextmanager
def rolled_back() -> Iterator[None]:
    """Each example in a savepoint of its own, rolled back: a failing statement does not
    poison the next examples, and none sees another's rows."""
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


def rows_of(project: Any, options: ExportOptions) -> tuple[list[Any], Counter[str]]:
    counts: Counter[str] = Counter()
    rows = list(iter_rows(project, options, Splitter(options), counts, chunk_size=2))
    return rows, counts


@pytest.mark.django_db(transaction=True)
def test_reading_ahead_in_autocommit_gives_the_rows_of_reading_in_place():
    # given graded traces, committed (the read-ahead thread has a connection of its own)
    graded = build(
        [([("a", 1, 1, None), ("b", 0, 0, None)], False), ([("a", 0, 0, None)], True)] * 3,
        [("ann", t, s, r, 0.5, None) for t in range(6) for s in range(3) for r in (1, -1)],
    )
    options = ExportOptions(format="prm800k")
    # when one export reads ahead (autocommit) and another reads in place (in a transaction)
    assert not connection.in_atomic_block
    ahead = rows_of(graded.project, options)
    with mock.patch.object(type(connection), "in_atomic_block", True, create=True):
        in_place = rows_of(graded.project, options)
    # then both wrote the same rows, several chunks of them
    assert ahead == in_place
    assert len(ahead[0]) == 6
