"""Reads of the evaluation pages: machine grade sources measured against human grades.

Reference labels (`human_consensus`): per node, the majority of the current ratings of people
(grade sources of kind human) and of imported datasets (kind dataset, e.g. PRM800K or
ProcessBench); a tie goes to the lowest rating (a doubt about a step counts against it).
A step is *bad* when its consensus is -1; 0 and +1 are not bad (ProcessBench's reading).

Machine sources (kinds prm, judge, monte_carlo) give a value in [0, 1] per node: its score, or
for a grade with only a rating, +1 -> 1.0, 0 -> 0.5, -1 -> 0.0. A value below the source's
threshold predicts a bad step. The threshold is chosen on a calibration split (traces with odd
ids) by maximising the ProcessBench F1 there; every metric is then measured on the evaluation
split (traces with even ids), so no number is measured on the data that chose it.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from algorithms.answers import answers_equivalent_many
from algorithms.metrics import (
    NO_ERROR,
    CalibrationBin,
    ProcessBenchScores,
    Vote,
    aggregate_step_scores,
    answer_classes,
    auroc,
    best_of_n_accuracy,
    best_threshold,
    binary_prf,
    calibration_bins,
    mean_tokens,
    predicted_first_error,
    processbench_scores,
    vote_accuracy,
)
from annotation.core.models import Project
from annotation.evaluation.models import Rollout, SuggestionSetting
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.grading.selectors import current_grades
from annotation.jobs.models import Job
from annotation.problems.models import Origin, Trace, TraceStep
from annotation.problems.selectors import path_node_ids

REFERENCE_KINDS = (SourceKind.HUMAN, SourceKind.DATASET)
MACHINE_KINDS = (SourceKind.PRM, SourceKind.JUDGE, SourceKind.MONTE_CARLO)
RATING_VALUE = {1: 1.0, 0: 0.5, -1: 0.0}
DEFAULT_THRESHOLD = 0.5
Aggregation = Literal["min", "last", "prod"]
AGGREGATIONS: tuple[Aggregation, ...] = ("min", "last", "prod")


# Reference labels ----------------------------------------------------------------------------


def majority_rating(ratings: Iterable[int]) -> int | None:
    """The most common rating; a tie goes to the lowest; None for no ratings."""
    counts = Counter(ratings)
    if not counts:
        return None
    return max(counts, key=lambda rating: (counts[rating], -rating))


def human_consensus(node_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The consensus rating of each node that people or an imported dataset graded."""
    ratings: dict[uuid.UUID, list[int]] = defaultdict(list)
    rows = (
        current_grades()
        .filter(node_id__in=list(node_ids), source__kind__in=REFERENCE_KINDS, rating__isnull=False)
        .values_list("node_id", "rating")
    )
    for node, rating in rows:
        if rating is not None:
            ratings[node].append(rating)
    return {
        node: rating
        for node, values in ratings.items()
        if (rating := majority_rating(values)) is not None
    }


@dataclass
class LabeledTrace:
    trace_id: int
    nodes: list[uuid.UUID]
    consensus: list[int | None]

    @property
    def calibration(self) -> bool:
        return self.trace_id % 2 == 1

    @property
    def first_error(self) -> int | None:
        """The first step whose consensus is -1, -1 when every step has a consensus and none is
        bad, None when a step before the first bad one (or any step) has no consensus."""
        for index, rating in enumerate(self.consensus):
            if rating is None:
                return None
            if rating == -1:
                return index
        return NO_ERROR


def reference_traces(project: Project) -> list[LabeledTrace]:
    """Traces of the project with at least one reference-graded step on their path."""
    graded = (
        TraceStep.objects.filter(
            trace__problem__project=project,
            on_path=True,
        )
        .filter(
            Exists(
                current_grades().filter(
                    node_id=OuterRef("node_id"), source__kind__in=REFERENCE_KINDS
                )
            )
        )
        .values_list("trace_id", flat=True)
        .distinct()
    )
    by_trace = path_node_ids(graded)
    consensus = human_consensus({n for nodes in by_trace.values() for n in nodes})
    return [
        LabeledTrace(tid, nodes, [consensus.get(n) for n in nodes])
        for tid, nodes in sorted(by_trace.items())
    ]


def machine_sources(project: Project) -> QuerySet[GradeSource]:
    """Machine sources with at least one current grade on a node of the project."""
    graded = current_grades().filter(node__problem__project=project).values("source_id")
    return GradeSource.objects.filter(kind__in=MACHINE_KINDS, pk__in=graded).order_by("kind", "pk")


def source_values(
    source_ids: Sequence[int], node_ids: Iterable[uuid.UUID]
) -> dict[int, dict[uuid.UUID, float]]:
    """Each source's value in [0, 1] for each node it graded (one query)."""
    values: dict[int, dict[uuid.UUID, float]] = {pk: {} for pk in source_ids}
    rows = (
        current_grades()
        .filter(source_id__in=source_ids, node_id__in=list(node_ids))
        .values_list("source_id", "node_id", "score", "rating")
    )
    for source_id, node, score, rating in rows:
        if score is not None:
            values[source_id][node] = float(score)
        elif rating is not None:
            values[source_id][node] = RATING_VALUE[rating]
    return values


# Scorer comparison ---------------------------------------------------------------------------


@dataclass
class SourceEvaluation:
    source: GradeSource
    threshold: float
    threshold_traces: int  # calibration traces the threshold was chosen on (0: the default)
    steps: int  # evaluated steps (unique nodes of the evaluation split)
    step_accuracy: float | None
    bad_precision: float | None
    bad_recall: float | None
    bad_f1: float | None
    auroc: float | None  # None for a source of ratings only, or with one class
    processbench: ProcessBenchScores
    processbench_traces: int
    calibration: list[CalibrationBin] = field(default_factory=list)


def _complete(trace: LabeledTrace, values: dict[uuid.UUID, float]) -> list[float] | None:
    scores = [values.get(n) for n in trace.nodes]
    return None if any(s is None for s in scores) else [s for s in scores if s is not None]


def evaluate_source(
    source: GradeSource,
    traces: Sequence[LabeledTrace],
    values: dict[uuid.UUID, float],
    *,
    float_scores: bool,
) -> SourceEvaluation:
    """Every metric of one source against the reference labels of `traces`."""
    calibrate = [
        (scores, t.first_error)
        for t in traces
        if t.calibration and t.first_error is not None and (scores := _complete(t, values))
    ]
    threshold = DEFAULT_THRESHOLD
    if calibrate:
        choice = best_threshold([s for s, _ in calibrate], [e for _, e in calibrate])
        threshold = choice["threshold"]
    evaluate = [t for t in traces if not t.calibration]
    # Step level: each node once, when it has a consensus and a value.
    step_pairs: dict[uuid.UUID, tuple[float, bool]] = {}
    for trace in evaluate:
        for node, rating in zip(trace.nodes, trace.consensus, strict=True):
            if rating is not None and node in values:
                step_pairs.setdefault(node, (values[node], rating == -1))
    scores = [value for value, _ in step_pairs.values()]
    gold_bad = [bad for _, bad in step_pairs.values()]
    predicted_bad = [value < threshold for value in scores]
    prf = binary_prf(predicted_bad, gold_bad) if scores else None
    bench_items = [
        (predicted_first_error(s, threshold), t.first_error)
        for t in evaluate
        if t.first_error is not None and (s := _complete(t, values))
    ]
    return SourceEvaluation(
        source=source,
        threshold=threshold,
        threshold_traces=len(calibrate),
        steps=len(scores),
        step_accuracy=(
            sum(p == g for p, g in zip(predicted_bad, gold_bad, strict=True)) / len(scores)
            if scores
            else None
        ),
        bad_precision=prf["precision"] if prf else None,
        bad_recall=prf["recall"] if prf else None,
        bad_f1=prf["f1"] if prf else None,
        auroc=auroc(scores, [not bad for bad in gold_bad]) if float_scores and scores else None,
        processbench=processbench_scores([p for p, _ in bench_items], [e for _, e in bench_items]),
        processbench_traces=len(bench_items),
        calibration=calibration_bins(scores, [not bad for bad in gold_bad]) if scores else [],
    )


@dataclass
class Comparison:
    traces: int
    calibration_traces: int
    evaluation_traces: int
    rows: list[SourceEvaluation]


def compare_sources(project: Project, source_ids: Sequence[int] | None = None) -> Comparison:
    """All machine sources (or the given ones) side by side against the human consensus."""
    traces = reference_traces(project)
    sources = list(machine_sources(project))
    if source_ids is not None:
        sources = [s for s in sources if s.pk in set(source_ids)]
    nodes = {n for t in traces for n in t.nodes}
    values = source_values([s.pk for s in sources], nodes)
    with_scores = set(
        current_grades()
        .filter(source__in=sources, node_id__in=list(nodes), score__isnull=False)
        .values_list("source_id", flat=True)
        .distinct()
    )
    rows = [
        evaluate_source(s, traces, values[s.pk], float_scores=s.pk in with_scores) for s in sources
    ]
    calibration = sum(t.calibration for t in traces)
    return Comparison(len(traces), calibration, len(traces) - calibration, rows)


# Best-of-N -----------------------------------------------------------------------------------


@dataclass
class Candidate:
    trace_id: int
    answer: str | None
    correct: bool  # False for a sample without an answer
    nodes: list[uuid.UUID]
    tokens: int = 0


@dataclass
class BestOfN:
    problems: int
    ns: list[int]
    # series name -> accuracy at each n of `ns`
    series: dict[str, list[float | None]]
    # generated tokens per problem spent on the first n samples, at each n (the cost axis)
    tokens: list[float | None] = field(default_factory=list)


def sampled_candidates(project: Project, job: Job | None = None) -> dict[int, list[Candidate]]:
    """Model samples of the problems that have a ground truth, per problem in the order they
    were written. A sample without an extracted answer (or whose answer could not be graded)
    stays in as a wrong one: dropping it would inflate every curve, the oracle's too."""
    traces = Trace.objects.filter(
        problem__project=project, origin=Origin.MODEL_SAMPLE, problem__answer__isnull=False
    ).exclude(problem__answer="")
    if job is not None:
        traces = traces.filter(job=job)
    rows = list(
        traces.order_by("problem_id", "id").values_list(
            "pk", "problem_id", "final_answer", "is_correct", "metadata__tokens"
        )
    )
    by_trace = path_node_ids(pk for pk, *_ in rows)
    found: dict[int, list[Candidate]] = defaultdict(list)
    for pk, problem_id, answer, correct, tokens in rows:
        found[problem_id].append(
            Candidate(
                pk,
                answer,
                correct is True,
                by_trace.get(pk, []),
                tokens if isinstance(tokens, int) else 0,
            )
        )
    return dict(found)


def sample_sizes(largest: int) -> list[int]:
    """1, 2, 4, ... up to the largest number of candidates, which is always included."""
    sizes = []
    n = 1
    while n < largest:
        sizes.append(n)
        n *= 2
    return [*sizes, largest] if largest else []


def equivalent_answers(pairs: list[tuple[str, str]]) -> list[bool]:
    """The project's math grader (math-verify, each pair under the answer timeout)."""
    return answers_equivalent_many(pairs, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S)


def best_of_n(
    project: Project, job: Job | None = None, source_ids: Sequence[int] | None = None
) -> BestOfN:
    """Accuracy of the answer picked from the first N samples of each problem, as N grows: by
    each scorer (steps aggregated by min, last or product), by a vote weighted by each scorer
    (a sample's weight is its min step score), by majority vote, and by an oracle that picks a
    correct sample whenever there is one; and the generated tokens those N samples cost.

    Votes group answers by mathematical equivalence (``1/2`` and ``0.5`` vote together); a
    sample without an answer never votes and is never right. A sample a scorer did not score
    entirely gets the score -1, below every real score, and no weight in its vote."""
    problems = sampled_candidates(project, job)
    groups = list(problems.values())
    ns = sample_sizes(max((len(g) for g in groups), default=0))
    classes = [answer_classes([c.answer for c in g], equivalent_answers) for g in groups]
    series: dict[str, list[float | None]] = {}
    sources = list(machine_sources(project).exclude(kind=SourceKind.MONTE_CARLO))
    if source_ids is not None:
        sources = [s for s in sources if s.pk in set(source_ids)]
    values = source_values([s.pk for s in sources], {n for g in groups for c in g for n in c.nodes})
    for source in sources:
        for how in AGGREGATIONS:
            scored = [
                [(_solution_score(c, values[source.pk], how), c.correct) for c in g] for g in groups
            ]
            series[f"{source.name} ({how})"] = [best_of_n_accuracy(scored, n) for n in ns]
        weighted = [
            [
                Vote(k, c.correct, max(_solution_score(c, values[source.pk], "min"), 0.0))
                for c, k in zip(g, ks, strict=True)
            ]
            for g, ks in zip(groups, classes, strict=True)
        ]
        series[f"{source.name} (weighted vote)"] = [vote_accuracy(weighted, n) for n in ns]
    votes = [
        [Vote(k, c.correct) for c, k in zip(g, ks, strict=True)]
        for g, ks in zip(groups, classes, strict=True)
    ]
    series["majority vote"] = [vote_accuracy(votes, n) for n in ns]
    series["oracle"] = [
        sum(any(c.correct for c in g[:n]) for g in groups) / len(groups) for n in ns
    ]
    tokens = [[c.tokens for c in g] for g in groups]
    return BestOfN(
        problems=len(groups), ns=ns, series=series, tokens=[mean_tokens(tokens, n) for n in ns]
    )


def _solution_score(
    candidate: Candidate, values: dict[uuid.UUID, float], how: Aggregation
) -> float:
    scores = [values.get(n) for n in candidate.nodes]
    if not scores or any(s is None for s in scores):
        return -1.0
    return aggregate_step_scores([s for s in scores if s is not None], how)


# Human-AI queue ------------------------------------------------------------------------------


@cache
def _priority_sql() -> str:
    """Per path node, over the current machine scores of the node: the spread between sources
    (max - min) and the uncertainty of their mean (1 at 0.5, 0 at 0 or 1); a trace's priority
    is its most contested step's larger of the two. NULL when no machine source scored it.
    Built from the models' metadata, as every raw statement here is (core/fixed_sql.py)."""

    def column(model: Any, name: str) -> str:
        return str(model._meta.get_field(name).column)

    step, grade, source = TraceStep._meta.db_table, Grade._meta.db_table, GradeSource._meta.db_table
    kinds = ", ".join(["%s"] * len(MACHINE_KINDS))
    return (
        "SELECT MAX(CASE WHEN spread > uncertainty THEN spread ELSE uncertainty END) FROM ("
        f" SELECT MAX(g.{column(Grade, 'score')}) - MIN(g.{column(Grade, 'score')}) AS spread,"
        f" 1 - ABS(2 * AVG(g.{column(Grade, 'score')}) - 1) AS uncertainty"
        f" FROM {step} ts JOIN {grade} g"
        f" ON g.{column(Grade, 'node')} = ts.{column(TraceStep, 'node')}"
        f" AND g.{column(Grade, 'is_current')} AND g.{column(Grade, 'score')} IS NOT NULL"
        f" JOIN {source} s ON s.id = g.{column(Grade, 'source')}"
        f" AND s.{column(GradeSource, 'kind')} IN ({kinds})"
        f' WHERE ts.{column(TraceStep, "trace")} = "{Trace._meta.db_table}"."id"'
        f" AND ts.{column(TraceStep, 'on_path')}"
        f" GROUP BY ts.{column(TraceStep, 'node')}"
        ") AS per_node"
    )


def machine_disagreement() -> RawSQL:
    """An expression for a Trace queryset: how much machine sources disagree on the trace, or
    how unsure they are (0..1; NULL without machine scores). The workspace's queue orders by
    it: `.order_by(..., machine_disagreement().desc(nulls_last=True), "pk")`."""
    return RawSQL(_priority_sql(), [str(kind) for kind in MACHINE_KINDS])


def queue_order(kind: str) -> list[Any]:
    """The hook for the annotators' queue: its ORDER BY for a queue of `kind` (whose candidates
    are annotated with `started`, the number of active claims). Grading items that others
    started come first (agreement is measured early), then the traces machines disagree on
    most or are least sure of, then the rest by id. Record items (problems) keep id order.

    Wiring (annotation/workspace/services/claims.py, assignment_claim_next):
    ``.order_by(*queue_order(kind))`` in place of ``.order_by("-started", "pk")``."""
    if kind != "grade":
        return ["-started", "pk"]
    return ["-started", machine_disagreement().desc(nulls_last=True), "pk"]


def disagreement_order(project: Project) -> QuerySet[Trace]:
    """The project's traces that machines scored, most contested first."""
    return (
        Trace.objects.filter(problem__project=project)
        .annotate(disagreement=machine_disagreement())
        .filter(disagreement__isnull=False)
        .order_by("-disagreement", "pk")
    )


# Agreement with and without suggestions ------------------------------------------------------


@dataclass
class SuggestionAgreement:
    with_suggestions: float | None
    with_count: int
    without_suggestions: float | None
    without_count: int


def suggestion_agreement(project: Project) -> SuggestionAgreement:
    """How often annotators' ratings agree (bad vs not bad) with the machine suggestion the
    workspace shows for the step (the latest prm or judge score, bad below 0.5), split by
    whether suggestions were shown when the grade was given: the project's suggestion setting
    at that moment (from the changes logged by the evaluation page; before any change, the
    default off) and a suggestion already existing then."""
    changes = list(
        SuggestionSetting.objects.filter(project=project).values_list("changed_at", "shown")
    )
    human = list(
        current_grades()
        .filter(
            source__kind=SourceKind.HUMAN, trace__problem__project=project, rating__isnull=False
        )
        .values_list("node_id", "rating", "created_at")
    )
    suggestions: dict[uuid.UUID, list[tuple[Any, float]]] = defaultdict(list)
    for node, score, created in (
        current_grades()
        .filter(
            node_id__in={n for n, _, _ in human},
            source__kind__in=[SourceKind.PRM, SourceKind.JUDGE],
            score__isnull=False,
        )
        .order_by("id")
        .values_list("node_id", "score", "created_at")
    ):
        if score is not None:
            suggestions[node].append((created, score))
    agree = {True: 0, False: 0}
    total = {True: 0, False: 0}
    for node, rating, given_at in human:
        if not suggestions.get(node):
            continue
        _, score = suggestions[node][-1]
        shown = _setting_at(changes, given_at) and suggestions[node][0][0] <= given_at
        total[shown] += 1
        agree[shown] += (rating == -1) == (score < DEFAULT_THRESHOLD)
    return SuggestionAgreement(
        with_suggestions=agree[True] / total[True] if total[True] else None,
        with_count=total[True],
        without_suggestions=agree[False] / total[False] if total[False] else None,
        without_count=total[False],
    )


def _setting_at(changes: Sequence[tuple[Any, bool]], moment: Any) -> bool:
    shown = False
    for changed_at, value in changes:
        if changed_at > moment:
            break
        shown = value
    return shown


# Rollouts ------------------------------------------------------------------------------------


def monte_carlo_jobs(project: Project, *, limit: int = 20) -> QuerySet[Job]:
    return project.jobs.filter(kind="monte_carlo").select_related("created_by")[:limit]


def job_rollouts(job: Job, *, limit: int = 200) -> list[Rollout]:
    return list(
        Rollout.objects.filter(job=job)
        .select_related("node")
        .order_by("node__problem_id", "node__depth", "node_id", "index")[:limit]
    )
