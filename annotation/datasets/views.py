"""Read-only views of traces for exports, loaded a chunk of traces at a time."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from annotation.grading.models import Grade
from annotation.problems.models import StepNode, Trace, TraceStep


@dataclass(slots=True)
class GradeView:
    rating: int | None
    score: float | None
    flagged: bool | None
    source_name: str
    votes: int = 1  # how many sources' grades were combined into this one
    agreement: float = 1.0  # the share of those votes that agree with `rating`


@dataclass(slots=True)
class StepView:
    position: int
    option: int | None
    on_path: bool
    text: str
    kind: str
    extra: dict[str, Any] | None
    grade: GradeView | None


@dataclass(slots=True)
class TraceView:
    trace: Trace
    steps: list[StepView] = field(default_factory=list)  # by position, then option

    @property
    def path(self) -> list[StepView]:
        return [s for s in self.steps if s.on_path]

    @property
    def n_positions(self) -> int:
        return self.steps[-1].position + 1 if self.steps else 0

    def at(self, position: int) -> list[StepView]:
        return [s for s in self.steps if s.position == position]

    @property
    def grader_name(self) -> str | None:
        return next((s.grade.source_name for s in self.steps if s.grade), None)

    def first_error(self) -> int:
        """Index on the path of the first step graded -1, or -1 when there is none."""
        for index, step in enumerate(self.path):
            if step.grade is not None and step.grade.rating == -1:
                return index
        return -1


StepKey = tuple[int, UUID]  # (trace id, node id)
# Given the (trace, node) pairs of a chunk, the grade to show for each pair that has one.
GradeLoader = Callable[[set[StepKey]], dict[StepKey, GradeView]]


def grades_given_in_trace(keys: set[StepKey]) -> dict[StepKey, GradeView]:
    """The grades given in each trace: the first source to grade a node there, latest version."""
    grades: dict[StepKey, GradeView] = {}
    rows = (
        Grade.objects.filter(trace_id__in={trace_id for trace_id, _ in keys})
        .order_by("source_id", "id")
        .values_list("trace_id", "node_id", "rating", "score", "flagged", "source__name")
    )
    for trace_id, node_id, rating, score, flagged, source_name in rows:
        key = (trace_id, node_id)
        current = grades.get(key)
        if current is None or current.source_name == source_name:
            grades[key] = GradeView(rating, score, flagged, source_name)
    return grades


def load_trace_views(
    traces: Sequence[Trace], grades: GradeLoader = grades_given_in_trace
) -> list[TraceView]:
    """Steps, then their nodes' texts, then the grades `grades` selects: three queries.

    Nodes are fetched by primary key rather than joined: each query then has one plan
    (index lookups) whatever the table statistics say, and a node shared by many traces of
    the chunk is read once.
    """
    views = {t.pk: TraceView(trace=t) for t in traces}
    steps = list(
        TraceStep.objects.filter(trace_id__in=views)
        .order_by("trace_id", "position", "option")
        .values_list("trace_id", "position", "option", "on_path", "extra", "node_id")
    )
    nodes: dict[UUID, tuple[str, str]] = {
        node_id: (text, kind)
        for node_id, text, kind in StepNode.objects.filter(
            id__in={row[5] for row in steps}
        ).values_list("id", "text", "kind")
    }
    graded = grades({(row[0], row[5]) for row in steps}) if steps else {}
    by_trace: dict[int, list[StepView]] = defaultdict(list)
    for trace_id, position, option, on_path, extra, node_id in steps:
        text, kind = nodes[node_id]
        by_trace[trace_id].append(
            StepView(position, option, on_path, text, kind, extra, graded.get((trace_id, node_id)))
        )
    for trace_id, view in views.items():
        view.steps = by_trace[trace_id]
    return list(views.values())
