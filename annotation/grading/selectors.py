"""The reads of grades: current grades only (superseded versions are history, never shown,
exported or counted), and the autosave's path with one source's grades."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.db.models import QuerySet

from annotation.core.fixed_sql import Selected, fetch_all
from annotation.grading.models import Grade, GradeSource
from annotation.problems.models import TraceStep

StepKey = tuple[int, uuid.UUID]  # (trace id, node id)
# (trace id, node id, grader): the grader is a source id where a trace is shown once per
# source that graded in it, else 0.
GradedKey = tuple[int, uuid.UUID, int]


def current_grades() -> QuerySet[Grade]:
    """Every current grade; filter it further. The one door readers go through."""
    return Grade.objects.filter(is_current=True)


@dataclass(slots=True)
class GradeView:
    rating: int | None
    score: float | None
    flagged: bool | None
    source_name: str
    votes: int = 1  # how many sources' grades were combined into this one
    agreement: float = 1.0  # the share of those votes that agree with `rating`


def grades_given_in_trace(keys: set[StepKey]) -> dict[GradedKey, GradeView]:
    """The current grades given in each trace, by source: a trace graded by two annotators is
    shown (and exported) once per annotator, each with their own grades only."""
    rows = (
        current_grades()
        .filter(trace_id__in={trace_id for trace_id, _ in keys})
        .values_list(
            "trace_id", "node_id", "source_id", "rating", "score", "flagged", "source__name"
        )
    )
    return {
        (trace_id, node_id, source_id): GradeView(rating, score, flagged, name)
        for trace_id, node_id, source_id, rating, score, flagged, name in rows
        if trace_id is not None and (trace_id, node_id) in keys
    }


def source_grades(
    source: GradeSource | None,
) -> Callable[[set[StepKey]], dict[GradedKey, GradeView]]:
    """A loader of one source's current grade on each node, wherever it was given (a run
    scores a prefix shared by several traces once)."""

    def load(keys: set[StepKey]) -> dict[GradedKey, GradeView]:
        if source is None:
            return {}
        by_node = {
            node_id: GradeView(rating, score, flagged, source.name)
            for node_id, rating, score, flagged in current_grades()
            .filter(source=source, node_id__in={n for _, n in keys})
            .values_list("node_id", "rating", "score", "flagged")
        }
        return {(t, n, 0): by_node[n] for t, n in keys if n in by_node}

    return load


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a labelling source's labels on a trace may teach a model: not a gold item
    (quality control or screening: it measures the person), not the work of a person who
    failed screening, not rejected in review. Read once per export chunk
    (annotation/grading/eligibility.py); `reason` is the manifest's left-out reason."""

    gold_item: bool = False
    screening_failed: bool = False
    rejected: bool = False

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(
            reason
            for reason, applies in (
                ("screening_failed", self.screening_failed),
                ("gold_item", self.gold_item),
                ("review_rejected", self.rejected),
            )
            if applies
        )


ELIGIBLE = Eligibility()


# The autosave's path --------------------------------------------------------------------------


@cache
def _path_with_grades_sql() -> tuple[str, Selected, Selected]:
    step = Selected(TraceStep, "s", ("node", "position", "on_path"))
    grade = Selected(Grade, "g", ("id", "rating", "unsure", "critique"))
    sql = (
        f"SELECT {step.sql}, {grade.sql} FROM {TraceStep._meta.db_table} s "
        f"LEFT JOIN {Grade._meta.db_table} g "
        "ON g.node_id = s.node_id AND g.source_id = %s AND g.is_current "
        "WHERE s.trace_id = %s"
    )
    return sql, step, grade


@dataclass(frozen=True, slots=True)
class CurrentGrade:
    """What a person's next save compares with: their current grade of a step."""

    pk: int
    rating: int | None
    unsure: bool
    critique: str


@dataclass(frozen=True, slots=True)
class TraceGrades:
    """The steps of a trace a person may grade, with their current grades."""

    positions: dict[str, int]  # every node shown in the trace: its path and its alternatives
    path: frozenset[str]  # the nodes on its path
    current: dict[uuid.UUID, CurrentGrade]


def path_with_current_grades(trace_id: int, source: GradeSource) -> TraceGrades:
    """The position of each node shown in the trace (path and alternatives), which are on its
    path, and the source's current grade on each, in one fixed statement (a save runs this
    several times a minute per annotator)."""
    sql, step, grade = _path_with_grades_sql()
    positions: dict[str, int] = {}
    path: set[str] = set()
    current: dict[uuid.UUID, CurrentGrade] = {}
    for row in fetch_all(sql, [source.pk, trace_id]):
        nid, position, on_path = step.values(row)
        positions[str(nid)] = position
        if on_path:
            path.add(str(nid))
        grade_id, rating, unsure, critique = grade.values(row, step.width)
        if grade_id is not None:
            current[nid] = CurrentGrade(grade_id, rating, unsure, critique)
    return TraceGrades(positions, frozenset(path), current)
