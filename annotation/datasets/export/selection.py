"""What an export reads: traces in keyset chunks, the grades that label their steps, the split.

Traces come ordered by (problem, id) in chunks of `chunk_size`, one short query each in
autocommit (no transaction is held for the whole export), so a problem's traces are
consecutive: DPO pairs and duplicate removal then need only the current problem in memory.
"""

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from uuid import UUID

from django.db.models import Q

from annotation.core.models import Project, Role
from annotation.datasets.export.options import ExportOptionError, ExportOptions
from annotation.grading.models import GradeSource, SourceKind
from annotation.grading.selectors import (
    GradedKey,
    GradeView,
    StepKey,
    current_grades,
    grades_given_in_trace,
)
from annotation.problems.models import Problem, Trace
from annotation.problems.selectors import GradeLoader, TraceView, load_trace_views
from annotation.problems.tree import text_digest


def iter_trace_views(
    project: Project, options: ExportOptions, *, chunk_size: int = 1000
) -> Iterator[list[TraceView]]:
    """Chunks of trace views of the project, ordered by (problem, trace id)."""
    grades = grade_loader(project, options)
    traces = Trace.objects.filter(problem__project=project)
    origins = options.resolved_origins
    if origins is not None:
        traces = traces.filter(origin__in=origins)
    after: tuple[int, int] | None = None
    while True:
        page = traces
        if after is not None:
            page = page.filter(Q(problem_id__gt=after[0]) | Q(problem_id=after[0], pk__gt=after[1]))
        chunk = list(page.select_related("problem").order_by("problem_id", "pk")[:chunk_size])
        if not chunk:
            return
        yield load_trace_views(chunk, grades)
        after = (chunk[-1].problem_id, chunk[-1].pk)


def count_traces(project: Project, options: ExportOptions) -> int:
    traces = Trace.objects.filter(problem__project=project)
    origins = options.resolved_origins
    if origins is not None:
        traces = traces.filter(origin__in=origins)
    return traces.count()


# Grades ---------------------------------------------------------------------------------


def grade_loader(project: Project, options: ExportOptions) -> GradeLoader:
    """The grade of each step under options.grades.

    trace: the current grades given in the trace itself (imported labels, an annotator's
      pass), one row per source that graded in it.
    annotator: the current grades of one annotator on each node, given in any trace.
    majority: the most common current rating of the human sources on each node (a tie
      goes to the lower rating); `agreement` is the share of votes for it.
    reviewed: the same majority, over project members with the reviewer or admin role.
    run: the current grades of the source of one model run (a PRM, judge or MC job).
    monte_carlo: the current Monte-Carlo grades of each node (the latest run's if several).
    """
    if options.grades == "trace":
        return grades_given_in_trace
    if options.grades == "annotator":
        source = GradeSource.objects.filter(
            kind=SourceKind.HUMAN, user__username=options.annotator
        ).first()
        if source is None:
            raise ExportOptionError(f"annotator: {options.annotator!r} has graded nothing")
        return _current_grades(Q(source=source))
    if options.grades == "run":
        # a run of this project only (also checked when the export starts)
        source = GradeSource.objects.filter(job_id=options.run or 0, job__project=project).first()
        if source is None:
            raise ExportOptionError(f"run: job {options.run} has no grades")
        return _current_grades(Q(source=source))
    if options.grades == "monte_carlo":
        return _current_grades(Q(source__kind=SourceKind.MONTE_CARLO))
    if options.grades == "majority":
        return _majority(Q(source__kind=SourceKind.HUMAN))
    reviewers = project.memberships.filter(role__in=[Role.REVIEWER, Role.ADMIN]).values("user_id")
    return _majority(Q(source__kind=SourceKind.HUMAN, source__user_id__in=reviewers))


def _expand(keys: set[StepKey], by_node: dict[UUID, GradeView]) -> dict[GradedKey, GradeView]:
    return {(t, n, 0): by_node[n] for t, n in keys if n in by_node}


def _current_grades(sources: Q) -> GradeLoader:
    def load(keys: set[StepKey]) -> dict[GradedKey, GradeView]:
        rows = (
            current_grades()
            .filter(sources, node_id__in={n for _, n in keys})
            .order_by("node_id", "id")
            .values_list("node_id", "rating", "score", "flagged", "source__name")
        )
        by_node = {
            node_id: GradeView(rating, score, flagged, name)
            for node_id, rating, score, flagged, name in rows  # the latest id wins
        }
        return _expand(keys, by_node)

    return load


def _majority(sources: Q) -> GradeLoader:
    def load(keys: set[StepKey]) -> dict[GradedKey, GradeView]:
        votes: dict[UUID, list[int]] = defaultdict(list)
        rows = (
            current_grades()
            .filter(sources, rating__isnull=False, node_id__in={n for _, n in keys})
            .values_list("node_id", "rating")
        )
        for node_id, rating in rows:
            votes[node_id].append(int(rating or 0))  # not null: filtered above
        by_node = {}
        for node_id, ratings in votes.items():
            counts = Counter(ratings)
            rating = min(counts, key=lambda r: (-counts[r], r))
            by_node[node_id] = GradeView(
                rating,
                None,
                None,
                "majority",
                votes=len(ratings),
                agreement=counts[rating] / len(ratings),
            )
        return _expand(keys, by_node)

    return load


# Labels ---------------------------------------------------------------------------------


def ternary(grade: GradeView, options: ExportOptions) -> int:
    if grade.rating is not None:
        return grade.rating
    assert grade.score is not None  # a grade has a rating or a score (database constraint)
    return 1 if grade.score >= options.score_threshold else -1


def step_labels(view: TraceView, options: ExportOptions) -> list[bool] | None:
    """Binary labels of the path steps to export, or None when a step lacks a usable grade.

    With after_error="drop" the labels stop at the first bad step (it is included).
    A grade whose agreement is below min_agreement counts as missing.
    """
    labels: list[bool] = []
    drop = options.resolved_after_error == "drop"
    for step in view.path:
        grade = step.grade
        if grade is None or grade.agreement < options.min_agreement:
            return None
        value = ternary(grade, options)
        good = value > 0 or (value == 0 and options.zero_is == "good")
        labels.append(good)
        if drop and not good:
            break
    return labels or None


def unlabelled_reason(view: TraceView, options: ExportOptions) -> str:
    """Why step_labels found no labels (a LeftOut reason): a step without a grade from the
    chosen source, or one whose combined grade agrees too little."""
    if any(step.grade is None for step in view.path) or not view.path:
        return "no_grades"
    return "low_agreement"


# Splits ---------------------------------------------------------------------------------


class Splitter:
    """Train/test by problem: a seeded hash of the problem's id, so that every export with the
    same seed and fraction puts a problem on the same side; held-out problems are always test.
    """

    def __init__(self, options: ExportOptions) -> None:
        self.fraction = options.test_fraction
        self.seed = options.seed
        held = set(options.held_out)
        # An entry matches a problem's external id, or its text (by digest).
        self.held_ids = held
        self.held_digests = {text_digest(item) for item in held}

    @property
    def names(self) -> tuple[str, ...]:
        return ("train", "test") if self.fraction > 0 or self.held_ids else ("train",)

    def is_held_out(self, problem: Problem) -> bool:
        return problem.external_id in self.held_ids or problem.text_digest in self.held_digests

    def split_of(self, problem: Problem) -> str:
        if self.is_held_out(problem):
            return "test"
        if self.fraction <= 0:
            return "train"
        digest = hashlib.sha256(f"{self.seed}:{problem.external_id}".encode()).digest()
        return "test" if int.from_bytes(digest[:8], "big") / 2**64 < self.fraction else "train"
