"""Reads of the workspace: queue, grading and record pages, review, agreement, progress."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum

from algorithms.agreement import (
    first_error_agreement,
    fleiss_kappa,
    krippendorff_alpha,
)
from annotation.core.models import Project
from annotation.grading.models import SourceKind
from annotation.grading.selectors import current_grades
from annotation.problems.selectors import path as trace_path
from annotation.problems.selectors import path_node_ids, project_sizes
from annotation.workspace.disclosure import suggested_scores
from annotation.workspace.models import (
    Assignment,
    AssignmentEvent,
    AssignmentStatus,
    ItemKind,
    ReviewStatus,
)
from annotation.workspace.queue_entries import entries_kept, open_entry_count, queued_count
from annotation.workspace.services.claims import open_items, queued_traces
from annotation.workspace.services.paths import WRITTEN, graded_view

RATINGS = (-1, 0, 1)


def my_assignments(*, project: Project, user: Any, limit: int = 50) -> list[Assignment]:
    return list(
        Assignment.objects.filter(project=project, annotator=user)
        .select_related("problem")
        .order_by("-updated_at")[:limit]
    )


# The queue page counts open items up to this many and says "over" beyond: a count of every
# open item would read the whole project.
QUEUE_COUNT_CAP = 1000


def queue_counts(*, project: Project, user: Any) -> dict[str, int]:
    """How many items of each kind this user could still claim, up to QUEUE_COUNT_CAP + 1."""
    counts = {}
    for kind in ItemKind.values:
        if kind == ItemKind.GRADE and entries_kept():
            counts[kind] = open_entry_count(project=project, user=user, cap=QUEUE_COUNT_CAP)
        else:
            open_ = open_items(project=project, user=user, kind=kind)
            counts[kind] = open_[: QUEUE_COUNT_CAP + 1].count()
    return counts


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


@dataclass(slots=True)
class ShownStep:
    """A step of the grading page: on the annotator's path, or an alternative offered there."""

    position: int
    option: int | None
    on_path: bool
    node_id: str
    text: str
    kind: str
    written: bool = False  # the annotator wrote it
    suggestion: float | None = None


def grading_steps(*, assignment: Assignment) -> list[ShownStep]:
    """The steps the annotator grades, by position: the path's step then the alternatives
    (their own path's once it left the trace's); with machine suggestions (a PRM's or judge's
    score) if the project shows them (the rule is annotation/workspace/disclosure.py's)."""
    steps = [
        ShownStep(
            s.position,
            s.option,
            s.on_path,
            str(s.node_id),
            s.text,
            s.kind,
            written=s.option is None and s.extra == WRITTEN,
        )
        for s in graded_view(assignment)
    ]
    steps.sort(key=lambda s: (s.position, not s.on_path, s.option if s.option is not None else -1))
    if assignment.project.show_machine_suggestions and steps:
        scores = suggested_scores(
            project_id=assignment.project_id, node_ids=[s.node_id for s in steps]
        )
        for step in steps:
            step.suggestion = scores.get(step.node_id)
    return steps


def claim_history(*, assignment: Assignment) -> list[AssignmentEvent]:
    """Submits, returns and review decisions of a claim, oldest first."""
    return list(assignment.events.select_related("actor").order_by("created_at", "id"))


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


# Agreement, gold, progress ----------------------------------------------------------------


def _submitted_grading(project: Project) -> QuerySet[Assignment]:
    return Assignment.objects.filter(
        project=project, kind=ItemKind.GRADE, status=AssignmentStatus.SUBMITTED
    )


def _human_ratings(project: Project) -> dict[int, dict[int, list[int | None]]]:
    """trace -> annotator -> ratings along the path, for submitted grading work that was not
    rejected in review (rejected work is no label, so it is no vote either)."""
    done = list(
        _submitted_grading(project)
        .exclude(review_status=ReviewStatus.REJECTED)
        .values_list("trace_id", "annotator_id")
    )
    trace_ids = {t for t, _ in done if t is not None}
    paths = _paths(trace_ids)
    # By node: a grade given on the annotator's own path (paths.py) is a grade of the step.
    grades = {
        (str(node), user): rating
        for node, user, rating in current_grades()
        .filter(
            node_id__in={n for nodes in paths.values() for n in nodes},
            source__kind=SourceKind.HUMAN,
            source__user_id__in={u for _, u in done},
            rating__isnull=False,
        )
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
    rejected_left_out: int = 0  # submitted gradings rejected in review, not counted


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
    """Agreement over the project, and for each annotator over the items they graded; work
    rejected in review is left out (the overall figure says how many gradings)."""
    ratings = _human_ratings(project)
    users = {u for by_user in ratings.values() for u in by_user}
    per_user = {
        user: _agreement({t: by for t, by in ratings.items() if user in by}) for user in users
    }
    overall = _agreement(ratings)
    overall.rejected_left_out = (
        _submitted_grading(project).filter(review_status=ReviewStatus.REJECTED).count()
    )
    return overall, per_user


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
    # The kept count (PostgreSQL), or a count over the rows on the SQLite first-run database.
    grade_items = queued_count(project) if entries_kept() else queued_traces(project).count()
    done = (
        Assignment.objects.filter(project=project, status=AssignmentStatus.SUBMITTED)
        .values("kind")
        .annotate(n=Count("id"), time_ms=Sum("time_spent_ms"), mean_ms=Avg("time_spent_ms"))
    )
    by_kind: dict[str, dict[str, Any]] = {row["kind"]: dict(row) for row in done}
    return {
        "grade_items": grade_items,
        "record_items": project_sizes([project.pk])[project.pk].problems,
        "needed_per_item": project.overlap,
        "graded": by_kind.get(ItemKind.GRADE, {}).get("n", 0),
        "recorded": by_kind.get(ItemKind.RECORD, {}).get("n", 0),
        "grade_mean_ms": by_kind.get(ItemKind.GRADE, {}).get("mean_ms"),
        "record_mean_ms": by_kind.get(ItemKind.RECORD, {}).get("mean_ms"),
    }
