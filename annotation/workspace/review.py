"""What a reviewer sees of a graded trace: every annotator's grades, critiques and own steps
beside the imported labels and the machine scores, and each claim's history.

Rows are the steps shown in the trace (its path, then the alternatives at each position),
then the steps annotators put on their own path (a corrected or written step, a chosen
alternative's continuation). Columns are the annotators whose work was submitted (or returned
to them), the imported datasets that graded in the trace, and the model runs that scored
these steps.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import Q

from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.grading.selectors import current_grades
from annotation.problems.models import Trace
from annotation.problems.selectors import StepView, load_trace_views
from annotation.workspace.models import Assignment, AssignmentStatus, ItemKind, ReviewStatus
from annotation.workspace.services.paths import WRITTEN

MACHINE_KINDS = (SourceKind.PRM, SourceKind.JUDGE)


@dataclass(slots=True)
class Column:
    kind: str  # annotator, dataset or machine
    title: str
    source_id: int | None
    assignment: Assignment | None = None


@dataclass(slots=True)
class Cell:
    rating: int | None = None
    score: float | None = None
    unsure: bool = False
    critique: str = ""
    on_path: bool = False  # the step is on this annotator's path


@dataclass(slots=True)
class ReviewRow:
    position: int
    text: str
    label: str  # "path", "alternative 2", "written by ann", ...
    node_id: UUID
    own: bool = False  # put there by an annotator: not a step of the trace
    cells: list[Cell | None] = field(default_factory=list)


@dataclass(slots=True)
class GradeVersion:
    position: int
    text: str
    rating: int | None
    critique: str
    is_current: bool
    created_at: Any


@dataclass(slots=True)
class ReviewTable:
    columns: list[Column]
    rows: list[ReviewRow]
    histories: dict[int, list[GradeVersion]]  # assignment id -> the annotator's grade versions


def reviewed_assignments(trace: Trace) -> list[Assignment]:
    """Submitted grading work on the trace, and work returned to its annotator."""
    return list(
        Assignment.objects.filter(trace=trace, kind=ItemKind.GRADE)
        .filter(Q(status=AssignmentStatus.SUBMITTED) | Q(review_status=ReviewStatus.RETURNED))
        .select_related("annotator", "reviewer")
        .order_by("submitted_at", "id")
    )


def _label(step: StepView, original: bool, author: str) -> str:
    if original:
        if step.on_path:
            return "path"
        return f"alternative {step.option + 1}" if step.option is not None else "human step"
    if step.option is None and step.extra == WRITTEN:
        return f"written by {author}"
    return f"model step on {author}'s path"


def trace_review(*, trace: Trace) -> ReviewTable:
    assignments = reviewed_assignments(trace)
    work = [a.work_trace_id for a in assignments if a.work_trace_id]
    views = {
        v.trace.pk: v
        for v in load_trace_views(list(Trace.objects.filter(pk__in=[trace.pk, *work])))
    }
    rows: list[ReviewRow] = []
    seen: set[UUID] = set()
    for step in views[trace.pk].steps:
        if step.node_id is not None and step.node_id not in seen:
            seen.add(step.node_id)
            rows.append(ReviewRow(step.position, step.text, _label(step, True, ""), step.node_id))
    on_path: dict[int, set[UUID]] = {}
    for a in assignments:
        steps = views[a.work_trace_id].steps if a.work_trace_id else views[trace.pk].steps
        on_path[a.pk] = {s.node_id for s in steps if s.on_path and s.node_id is not None}
        for step in steps:
            if step.node_id is not None and step.node_id not in seen:
                seen.add(step.node_id)
                label = _label(step, False, a.annotator.username)
                rows.append(ReviewRow(step.position, step.text, label, step.node_id, own=True))
    rows.sort(key=lambda r: r.position)
    nodes = [r.node_id for r in rows]
    people: dict[int, int] = dict(
        GradeSource.objects.filter(user_id__in=[a.annotator_id for a in assignments]).values_list(
            "user_id", "pk"
        )
    )
    grades = list(
        current_grades()
        .filter(node_id__in=nodes)
        .filter(
            Q(source_id__in=list(people.values()))
            | Q(trace=trace, source__kind=SourceKind.DATASET)
            | Q(source__kind__in=MACHINE_KINDS)
        )
        .select_related("source")
    )
    by_cell: dict[tuple[int, UUID], Grade] = {(g.source_id, g.node_id): g for g in grades}
    sources = {g.source_id: g.source for g in grades}
    columns = [
        Column("annotator", a.annotator.username, people.get(a.annotator_id), a)
        for a in assignments
    ]
    for kind, title in ((SourceKind.DATASET, "imported"), *((k, "model") for k in MACHINE_KINDS)):
        columns += [
            Column(
                "dataset" if kind == SourceKind.DATASET else "machine", f"{title}: {s.name}", s.pk
            )
            for s in sorted(sources.values(), key=lambda s: s.name)
            if s.kind == kind
        ]
    for row in rows:
        for column in columns:
            grade = by_cell.get((column.source_id or 0, row.node_id))
            mine = column.assignment is not None and row.node_id in on_path[column.assignment.pk]
            if grade is None and not mine:
                row.cells.append(None)
                continue
            row.cells.append(
                Cell(
                    rating=grade.rating if grade else None,
                    score=grade.score if grade else None,
                    unsure=grade.unsure if grade else False,
                    critique=grade.critique if grade else "",
                    on_path=mine,
                )
            )
    return ReviewTable(columns, rows, _histories(assignments, people, rows))


def _histories(
    assignments: list[Assignment], people: dict[int, int], rows: list[ReviewRow]
) -> dict[int, list[GradeVersion]]:
    """Every version of each annotator's grades on the rows' steps, oldest first."""
    where = {r.node_id: r for r in rows}
    versions: dict[int, list[GradeVersion]] = defaultdict(list)
    by_source = {people[a.annotator_id]: a.pk for a in assignments if a.annotator_id in people}
    for grade in Grade.objects.filter(source_id__in=by_source, node_id__in=where).order_by(
        "created_at", "id"
    ):
        row = where[grade.node_id]
        versions[by_source[grade.source_id]].append(
            GradeVersion(
                row.position,
                row.text,
                grade.rating,
                grade.critique,
                grade.is_current,
                grade.created_at,
            )
        )
    return dict(versions)
