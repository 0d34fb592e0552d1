"""The differential property of the step-label formats over project states built in the
database by the real services: annotators grade native traces through the workspace (overlap,
corrections that become their own step, stop-at-first-error on and off), some fail screening,
some traces are quality-control items, reviewers accept or reject work, a model run scores
steps and a Monte-Carlo job labels them. Every step-label format is exported; every row must
be what the reference reading (tests/exports/test_label_differential.py, written apart from
the code) makes of the labelled-path records the export read, and every trace a format does
not carry must be left out with the reference's named reason, counted in the manifest.

The records themselves are checked against what the test did: each annotator's view holds the
ratings they gave, and says who failed screening, which item is gold and which work was
rejected. Flipping one rule in the code (ungraded counted good; a rejected trace kept) makes
the property fail."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from annotation.core.models import Role
from annotation.datasets.export.left_out import REASONS, Tally
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import iter_rows
from annotation.datasets.export.selection import Splitter, iter_trace_views
from annotation.grading.labelled_path import LabelledPath
from annotation.grading.selectors import Eligibility
from annotation.grading.services import (
    Score,
    model_run_source,
    monte_carlo_labels_write,
    monte_carlo_source,
    person_source,
    run_scores_write,
)
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import Origin, Problem
from annotation.problems.selectors import TraceView
from annotation.workspace.models import ItemKind, Standing, StandingStatus
from annotation.workspace.services.claims import assignment_claim_next, assignment_skip
from annotation.workspace.services.gold import gold_mark
from annotation.workspace.services.reviews import assignment_review
from annotation.workspace.services.saves import grading_submit
from tests.exports.test_label_differential import (
    FORMATS,
    PROBLEM,
    comparable,
    expected_row,
    reference,
)
from tests.factories import MembershipFactory, ProjectFactory, trace_with_steps

EXAMPLES = 20
User = get_user_model()
SERIAL = itertools.count()
RATINGS = st.sampled_from([None, -1, 0, 1, 1])


# Random project states ------------------------------------------------------------------


@dataclass
class Work:
    """One annotator's work on one trace."""

    ratings: list[int | None]
    correct: bool  # write a corrected step in place of the first path step rated -1
    review: str | None  # accepted, rejected, or not reviewed


@dataclass
class Plan:
    stop_at_first_error: bool
    steps: list[int]  # path length of each trace
    failed: list[bool]  # per annotator: failed screening
    work: dict[tuple[int, int], Work]  # (annotator, trace) -> their work
    gold: list[bool]  # per trace: a quality-control item
    run_scores: list[list[float | None]] | None
    mc_ratings: list[list[int | None]] | None
    options: dict[str, Any] = field(default_factory=dict)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    stop = draw(st.booleans())
    steps = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    people = draw(st.integers(1, 3))
    work = {}
    for person, (trace, length) in itertools.product(range(people), enumerate(steps)):
        if draw(st.integers(0, 4)) == 0:
            continue  # they never took this one
        ratings = draw(st.lists(RATINGS, min_size=length, max_size=length))
        if stop and -1 in ratings:  # the workspace refuses ratings after the first error
            first = ratings.index(-1)
            ratings = ratings[: first + 1] + [None] * (length - first - 1)
        review = draw(st.sampled_from([None, "accepted", "rejected"]))
        work[(person, trace)] = Work(ratings, -1 in ratings and draw(st.booleans()), review)

    def scores(values: st.SearchStrategy[Any]) -> list[list[Any]] | None:
        if not draw(st.booleans()):
            return None
        return [draw(st.lists(values, min_size=n, max_size=n)) for n in steps]

    run = scores(st.sampled_from([None, 0.0, 0.2, 0.5, 0.75, 1.0]))
    mc = scores(st.sampled_from([None, -1, 1]))
    grades = draw(
        st.sampled_from(
            ["trace", "majority"] + (["run"] if run else []) + (["monte_carlo"] if mc else [])
        )
    )
    options = {
        "grades": grades,
        "zero_is": draw(st.sampled_from(["good", "bad"])),
        "after_error": draw(st.sampled_from([None, "drop", "keep"])),
        "chosen_path_only": draw(st.booleans()),
        "min_agreement": draw(st.sampled_from([0.0, 0.6])),
        "keep_gold_items": draw(st.booleans()),
        "keep_failed_screening": draw(st.booleans()),
        "review": draw(st.sampled_from(["not_rejected", "all"])),
    }
    return Plan(
        stop_at_first_error=stop,
        steps=steps,
        failed=[draw(st.integers(0, 3)) == 0 for _ in range(people)],
        work=work,
        gold=[draw(st.integers(0, 3)) == 0 for _ in steps],
        run_scores=run,
        mc_ratings=mc,
        options=options,
    )


# Building the state through the services ----------------------------------------------------


@dataclass
class Built:
    project: Any
    options: dict[str, Any]
    # what the test did, to check the records against: by the grade source of each annotator
    ratings: dict[tuple[int, int], list[int | None]] = field(default_factory=dict)
    corrected_at: dict[tuple[int, int], int] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    rejected: set[tuple[int, int]] = field(default_factory=set)
    gold: set[int] = field(default_factory=set)


def finish_of(ratings: list[int | None]) -> str:
    if -1 in ratings:
        return "found_error"
    return "solution" if None not in ratings else "give_up"


def build(plan: Plan) -> Built:
    serial = next(SERIAL)
    project = ProjectFactory(
        name=f"differential {serial}",
        overlap=3,
        queue_job_outputs=True,  # the model's traces are in the annotators' queue
        stop_at_first_bad_step=plan.stop_at_first_error,
    )
    problem = Problem.objects.create(
        project=project, text=PROBLEM, text_digest=f"differential-{serial}", source="test"
    )
    traces = [
        trace_with_steps(
            problem, [f"Trace {t}, step {i}." for i in range(n)], origin=Origin.MODEL_SAMPLE
        )
        for t, n in enumerate(plan.steps)
    ]
    # (users without a password: hashing one costs more than the rest of an example)
    reviewer = User.objects.create(username=f"d{serial}-reviewer")
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    people = [User.objects.create(username=f"d{serial}-{p}") for p in range(len(plan.failed))]
    for user in people:
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    built = Built(project, plan.options)
    index = {trace.pk: t for t, trace in enumerate(traces)}
    for person, user in enumerate(people):
        source = person_source(user=user)
        # each annotator takes the items one after the other: does the work planned, or skips
        while claim := assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE):
            work = plan.work.get((person, index[claim.trace_id]))
            if work is None:
                assignment_skip(assignment=claim, reason="not for me")
            else:
                submit(built, work, index[claim.trace_id], source.pk, claim, reviewer)
        if plan.failed[person]:
            # a failed screening, as the screening's judgement records it
            Standing.objects.update_or_create(
                project=project, user=user, defaults={"status": StandingStatus.FAILED}
            )
            built.failed.add(source.pk)
    for t, trace in enumerate(traces):
        graders = [person_source(user=people[p]) for p in range(len(people)) if (p, t) in plan.work]
        rated = [s for s in graders if any(r is not None for r in built.ratings[(s.pk, t)])]
        if plan.gold[t] and rated and (rated[0].pk, t) not in built.corrected_at:
            gold_mark(trace=trace, source=rated[0])
            built.gold.add(trace.pk)
    nodes = [
        list(trace.steps.order_by("position").values_list("node_id", flat=True)) for trace in traces
    ]
    if plan.run_scores:
        job = Job.objects.create(project=project, kind=JobKind.SCORE)
        run_scores_write(
            source=model_run_source(job=job, label="prm"),
            scores=[
                Score(node, trace.pk, score)
                for trace, ids, values in zip(traces, nodes, plan.run_scores, strict=True)
                for node, score in zip(ids, values, strict=True)
                if score is not None
            ],
        )
        if built.options["grades"] == "run":
            built.options = {**built.options, "run": job.pk}
    if plan.mc_ratings:
        job = Job.objects.create(project=project, kind=JobKind.MONTE_CARLO)
        monte_carlo_labels_write(
            source=monte_carlo_source(job=job, description="rollouts"),
            labels={
                node: McLabel(trace.pk, rating, 1.0 if rating == 1 else 0.0, False)
                for trace, ids, values in zip(traces, nodes, plan.mc_ratings, strict=True)
                for node, rating in zip(ids, values, strict=True)
                if rating is not None
            },
        )
    return built


@dataclass(frozen=True)
class McLabel:
    trace_id: int
    rating: int
    score: float | None
    inferred: bool


def submit(built: Built, work: Work, trace_index: int, source_id: int, claim, reviewer) -> None:
    nodes = [
        str(n) for n in claim.trace.steps.order_by("position").values_list("node_id", flat=True)
    ]
    grades: dict[str, dict[str, Any]] = {
        node: {"rating": rating} for node, rating in zip(nodes, work.ratings, strict=True)
    }
    if work.correct:
        first = work.ratings.index(-1)
        grades[nodes[first]]["correction"] = f"A corrected step by {source_id}."
        built.corrected_at[(source_id, trace_index)] = first
    grading_submit(
        assignment=claim,
        version=claim.version,
        draft={"grades": grades},
        finish_reason=finish_of(work.ratings),
    )
    built.ratings[(source_id, trace_index)] = work.ratings
    if work.review:
        claim.refresh_from_db()
        comment = "" if work.review == "accepted" else "not what the guidelines ask"
        assignment_review(
            assignment=claim, reviewer=reviewer, decision=work.review, comment=comment
        )
        if work.review == "rejected":
            built.rejected.add((source_id, claim.trace_id))


# The property ------------------------------------------------------------------------------


def check_records(built: Built, views: list[TraceView], review: str) -> None:
    """The records say what the test did: each annotator's ratings on their path (up to
    their corrected step, which is their own), who failed screening, which item is gold,
    which work was rejected."""
    problem_traces = list(Problem.objects.get(project=built.project).traces.order_by("pk"))
    originals = [t.pk for t in problem_traces if t.origin == Origin.MODEL_SAMPLE]
    people = {source for source, _ in built.ratings}
    for view in views:
        if view.grader not in people:
            continue  # a model run's or Monte-Carlo job's grades, shown by source too
        trace = view.trace
        source_trace = trace.source_trace_id if trace.origin == Origin.LABELED else trace.pk
        index = originals.index(source_trace)
        ratings = built.ratings[(view.grader, index)]
        corrected = built.corrected_at.get((view.grader, index))
        path = view.path
        until = len(ratings) if corrected is None else corrected
        got = [s.grade.rating if s.grade else None for s in path[:until]]
        assert got == ratings[:until], (view.trace.pk, view.grader)
        if corrected is not None:
            assert (path[corrected].option, path[corrected].extra) == (None, {"source": "human"})
        eligibility = view.eligibility
        assert eligibility.screening_failed == (view.grader in built.failed)
        if trace.origin == Origin.MODEL_SAMPLE:  # (gold items here were marked after the work)
            assert eligibility.gold_item == (trace.pk in built.gold)
        rejected = (view.grader, source_trace) in built.rejected and review != "all"
        assert eligibility.rejected == rejected  # review=all marks nothing rejected


def check(plan: Plan) -> None:
    """One example, in a savepoint rolled back after it: the examples share nothing."""
    with transaction.atomic():
        check_state(build(plan))
        transaction.set_rollback(True)


def check_state(built: Built) -> None:
    # the records every step-label format reads (the same for each: read once)
    first = ExportOptions(format=FORMATS[0], **built.options)  # type: ignore[arg-type]
    views = [v for chunk in iter_trace_views(built.project, first) for v in chunk]
    if first.grades == "trace":
        check_records(built, views, first.review)
    for format_name in FORMATS:
        options = ExportOptions(format=format_name, **built.options)  # type: ignore[arg-type]
        want_rows: list[Any] = []
        want_out: Counter[str] = Counter()
        for view in views:
            want = reference(view, options, format_name)
            if isinstance(want, str):
                want_out[want] += 1
            else:
                want_rows += [expected_row(format_name, seq, options, view) for seq in want]
        tally = Tally()
        rows = [
            comparable(format_name, row)
            for _, row in iter_rows(
                built.project, options, Splitter(options), Counter(), left_out=tally
            )
        ]
        key = repr
        assert sorted(map(key, rows)) == sorted(map(key, want_rows)), format_name
        out = {reason: entry["count"] for reason, entry in tally.as_manifest().items()}
        assert set(out) <= set(REASONS)
        assert {r: n for r, n in out.items() if r in want_out} == dict(want_out), format_name
        assert set(want_out) <= set(out), format_name


DB_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.django_db
@DB_SETTINGS
@given(plans())
def test_every_step_label_format_renders_the_records_of_native_grading(plan: Plan) -> None:
    check(plan)


# Flipping one rule makes the property fail ------------------------------------------------


def property_fails() -> None:
    """The property, stopped at its first failure: no shrinking through the database."""
    run = settings(
        DB_SETTINGS, max_examples=60, phases=[Phase.generate], report_multiple_bugs=False
    )(given(plans())(check))
    run()


@pytest.mark.django_db
def test_counting_ungraded_steps_good_makes_it_fail(monkeypatch):
    monkeypatch.setattr(
        LabelledPath, "fully_graded", property(lambda self: bool(self.labelled_steps()))
    )
    with pytest.raises(AssertionError):
        property_fails()


@pytest.mark.django_db
def test_keeping_rejected_work_makes_it_fail(monkeypatch):
    def kept_rejected(self: Eligibility) -> tuple[str, ...]:
        flags = (("screening_failed", self.screening_failed), ("gold_item", self.gold_item))
        return tuple(reason for reason, applies in flags if applies)

    monkeypatch.setattr(Eligibility, "reasons", property(kept_rejected))
    with pytest.raises(AssertionError):
        property_fails()
