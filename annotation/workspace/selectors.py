"""Reads of the workspace: queue, grading and record pages, review, agreement, progress."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Avg, Count, Q, Sum

from algorithms.agreement import (
    first_error_agreement,
    first_error_index,
    fleiss_kappa,
    krippendorff_alpha,
)
from annotation.core.models import Project
from annotation.grading.models import SourceKind
from annotation.grading.selectors import current_grades
from annotation.problems.models import Trace
from annotation.problems.selectors import path as trace_path
from annotation.problems.selectors import path_node_ids
from annotation.workspace.disclosure import suggested_scores
from annotation.workspace.models import (
    Assignment,
    AssignmentStatus,
    GoldItem,
    ItemKind,
)
from annotation.workspace.services.claims import GRADEABLE_ORIGINS, open_items

RATINGS = (-1, 0, 1)


def my_assignments(*, project: Project, user: Any, limit: int = 50) -> list[Assignment]:
    return list(
        Assignment.objects.filter(project=project, annotator=user)
        .select_related("problem")
        .order_by("-updated_at")[:limit]
    )


def queue_counts(*, project: Project, user: Any) -> dict[str, int]:
    """How many items of each kind this user could still claim."""
    return {
        kind: open_items(project=project, user=user, kind=kind).count() for kind in ItemKind.values
    }


@dataclass(slots=True)
class PathStep:
    position: int
    node_id: str
    text: str
    kind: str
    backtrack_to: int | None
    suggestion: float | None = None


def path_steps(trace_id: int) -> list[PathStep]:
    return [
        PathStep(s.position, str(s.node_id), s.text, s.kind, s.backtrack_to)
        for s in trace_path(trace_id)
    ]


def grading_steps(*, assignment: Assignment) -> list[PathStep]:
    """The trace's path; with machine suggestions (a PRM's or judge's score) if the project
    shows them (the rule is annotation/core/disclosure.py's)."""
    assert assignment.trace_id is not None
    steps = path_steps(assignment.trace_id)
    if assignment.project.show_machine_suggestions and steps:
        scores = suggested_scores(
            project_id=assignment.project_id, node_ids=[s.node_id for s in steps]
        )
        for step in steps:
            step.suggestion = scores.get(step.node_id)
    return steps


# Review -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ReviewItem:
    kind: str
    problem_id: int
    problem_text: str
    trace_id: int | None
    assignments: list[Assignment] = field(default_factory=list)


def review_items(*, project: Project, limit: int = 200) -> list[ReviewItem]:
    """Submitted work grouped by item, newest first: traces graded and thought records."""
    rows = (
        Assignment.objects.filter(project=project, status=AssignmentStatus.SUBMITTED)
        .select_related("annotator", "problem")
        .order_by("-submitted_at", "-id")[: limit * 4]
    )
    items: dict[tuple[str, int], ReviewItem] = {}
    for row in rows:
        key = (
            (ItemKind.GRADE.value, row.trace_id or 0)
            if row.kind == ItemKind.GRADE
            else (ItemKind.RECORD.value, row.pk)
        )
        if key not in items:
            items[key] = ReviewItem(row.kind, row.problem_id, row.problem.text, row.trace_id)
        items[key].assignments.append(row)
    return list(items.values())[:limit]


@dataclass(slots=True)
class ReviewRow:
    step: PathStep
    cells: list[dict[str, Any] | None]


def trace_review(*, trace: Trace) -> tuple[list[Assignment], list[ReviewRow]]:
    """Every annotator's submitted grades on the trace, one column per annotator."""
    assignments = list(
        Assignment.objects.filter(
            trace=trace, kind=ItemKind.GRADE, status=AssignmentStatus.SUBMITTED
        )
        .select_related("annotator", "reviewer")
        .order_by("submitted_at", "id")
    )
    steps = path_steps(trace.pk)
    grades = {
        (str(node), user): {"rating": rating, "unsure": unsure, "critique": critique}
        for node, user, rating, unsure, critique in current_grades()
        .filter(
            node_id__in=[s.node_id for s in steps],
            source__user_id__in=[a.annotator_id for a in assignments],
        )
        .values_list("node_id", "source__user_id", "rating", "unsure", "critique")
    }
    rows = [
        ReviewRow(step, [grades.get((step.node_id, a.annotator_id)) for a in assignments])
        for step in steps
    ]
    return assignments, rows


# Agreement, gold, progress ----------------------------------------------------------------


def _human_ratings(project: Project) -> dict[int, dict[int, list[int | None]]]:
    """trace -> annotator -> ratings along the path, for submitted grading work."""
    done = list(
        Assignment.objects.filter(
            project=project, kind=ItemKind.GRADE, status=AssignmentStatus.SUBMITTED
        ).values_list("trace_id", "annotator_id")
    )
    trace_ids = {t for t, _ in done if t is not None}
    paths = _paths(trace_ids)
    grades = {
        (str(node), user): rating
        for node, user, rating in current_grades()
        .filter(trace_id__in=trace_ids, source__kind=SourceKind.HUMAN, rating__isnull=False)
        .values_list("node_id", "source__user_id", "rating")
    }
    result: dict[int, dict[int, list[int | None]]] = defaultdict(dict)
    for trace_id, user in done:
        assert trace_id is not None
        result[trace_id][user] = [grades.get((node, user)) for node in paths.get(trace_id, [])]
    return result


def _paths(trace_ids: set[int]) -> dict[int, list[str]]:
    return {tid: [str(n) for n in nodes] for tid, nodes in path_node_ids(trace_ids).items()}


@dataclass(slots=True)
class Agreement:
    alpha: float | None
    kappa: float | None
    first_error: float | None
    items: int


def _agreement(ratings: dict[int, dict[int, list[int | None]]]) -> Agreement:
    units: dict[tuple[int, int], dict[int, float | None]] = {}
    for trace_id, by_user in ratings.items():
        for user, values in by_user.items():
            for position, value in enumerate(values):
                units.setdefault((trace_id, position), {})[user] = value
    alpha = krippendorff_alpha(units, "ordinal")
    # Fleiss' kappa needs the same number of raters per step: use the most common number.
    rated = [[v for v in unit.values() if v is not None] for unit in units.values()]
    sizes = [len(r) for r in rated if len(r) >= 2]
    kappa = None
    if sizes:
        common = max(set(sizes), key=lambda n: (sizes.count(n), n))
        table = [[r.count(c) for c in RATINGS] for r in rated if len(r) == common]
        kappa = fleiss_kappa(table)
    multi = [list(by_user.values()) for by_user in ratings.values() if len(by_user) >= 2]
    return Agreement(alpha, kappa, first_error_agreement(multi), len(multi))


def project_agreement(*, project: Project) -> tuple[Agreement, dict[int, Agreement]]:
    """Agreement over the project, and for each annotator over the items they graded."""
    ratings = _human_ratings(project)
    users = {u for by_user in ratings.values() for u in by_user}
    per_user = {
        user: _agreement({t: by for t, by in ratings.items() if user in by}) for user in users
    }
    return _agreement(ratings), per_user


@dataclass(slots=True)
class GoldScore:
    steps: int = 0
    correct_steps: int = 0
    traces: int = 0
    first_error_hits: int = 0

    @property
    def step_accuracy(self) -> float | None:
        return self.correct_steps / self.steps if self.steps else None

    @property
    def first_error_accuracy(self) -> float | None:
        return self.first_error_hits / self.traces if self.traces else None


def gold_accuracy(*, project: Project) -> dict[int, GoldScore]:
    """Each annotator's accuracy on the gold traces they submitted: per step, and on where the
    first error is."""
    golds = dict(
        GoldItem.objects.filter(trace__problem__project=project).values_list(
            "trace_id", "source_id"
        )
    )
    if not golds:
        return {}
    reference: dict[int, dict[str, int]] = defaultdict(dict)
    for trace_id, node, source, rating in (
        current_grades()
        .filter(trace_id__in=golds, rating__isnull=False)
        .values_list("trace_id", "node_id", "source_id", "rating")
    ):
        if trace_id is not None and rating is not None and golds[trace_id] == source:
            reference[trace_id][str(node)] = rating
    ratings = _human_ratings(project)
    paths = _paths(set(golds))
    scores: dict[int, GoldScore] = defaultdict(GoldScore)
    for trace_id in golds:
        expected = [reference[trace_id].get(node) for node in paths.get(trace_id, [])]
        for user, given in ratings.get(trace_id, {}).items():
            score = scores[user]
            score.traces += 1
            score.first_error_hits += first_error_index(given) == first_error_index(expected)
            for want, got in zip(expected, given, strict=True):
                if want is not None and got is not None:
                    score.steps += 1
                    score.correct_steps += want == got
    return dict(scores)


def progress(*, project: Project) -> list[dict[str, Any]]:
    """Per annotator: items by status and time spent per submitted item."""
    submitted = Q(status=AssignmentStatus.SUBMITTED)
    rows = [
        dict(row)
        for row in Assignment.objects.filter(project=project)
        .values("annotator_id", "annotator__username")
        .annotate(
            graded=Count("id", filter=submitted & Q(kind=ItemKind.GRADE)),
            recorded=Count("id", filter=submitted & Q(kind=ItemKind.RECORD)),
            in_progress=Count("id", filter=Q(status=AssignmentStatus.IN_PROGRESS)),
            skipped=Count("id", filter=Q(status=AssignmentStatus.SKIPPED)),
            accepted=Count("id", filter=Q(review_status="accepted")),
            rejected=Count("id", filter=Q(review_status="rejected")),
            time_ms=Sum("time_spent_ms", filter=submitted),
            mean_ms=Avg("time_spent_ms", filter=submitted),
        )
        .order_by("annotator__username")
    ]
    return rows


def project_totals(*, project: Project) -> dict[str, Any]:
    grade_items = Trace.objects.filter(
        problem__project=project,
        origin__in=GRADEABLE_ORIGINS,
    ).count()
    done = (
        Assignment.objects.filter(project=project, status=AssignmentStatus.SUBMITTED)
        .values("kind")
        .annotate(n=Count("id"), time_ms=Sum("time_spent_ms"), mean_ms=Avg("time_spent_ms"))
    )
    by_kind: dict[str, dict[str, Any]] = {row["kind"]: dict(row) for row in done}
    return {
        "grade_items": grade_items,
        "record_items": project.problems.count(),
        "needed_per_item": project.overlap,
        "graded": by_kind.get(ItemKind.GRADE, {}).get("n", 0),
        "recorded": by_kind.get(ItemKind.RECORD, {}).get("n", 0),
        "grade_mean_ms": by_kind.get(ItemKind.GRADE, {}).get("mean_ms"),
        "record_mean_ms": by_kind.get(ItemKind.RECORD, {}).get("mean_ms"),
    }
