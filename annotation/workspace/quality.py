"""How annotators do on gold items (screening and QC): their ratings against the reference.

The reference of a gold trace is its source's current grades on the trace's steps (the path
and the alternatives). The steps that count are the ones the reference rates, up to its first
error on the path when the project stops at the first error (nothing after it is graded
there); a step the annotator left unrated counts as missed. A rating is compared by node, so
grades given on the annotator's own path (annotation/workspace/services/paths.py) count too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

from algorithms.agreement import first_error_index
from annotation.core.models import Project
from annotation.grading.models import SourceKind
from annotation.grading.selectors import current_grades
from annotation.problems.models import Trace
from annotation.problems.selectors import StepView, load_trace_views
from annotation.workspace.models import Assignment, AssignmentStatus, GoldItem, ItemKind


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


def _counted(steps: list[StepView], reference: dict[UUID, int], stop: bool) -> list[UUID]:
    """The reference-rated nodes that count (see the module's docstring)."""
    path = [s for s in steps if s.on_path]
    last = max((s.position for s in steps), default=-1)
    if stop:
        bad = [s.position for s in path if reference.get(s.node_id or UUID(int=0)) == -1]
        last = min(bad, default=last)
    return [
        s.node_id
        for s in steps
        if s.node_id is not None and s.node_id in reference and s.position <= last
    ]


def gold_scores(
    *, project: Project, kind: str, users: Collection[int] | None = None
) -> dict[int, GoldScore]:
    """Each annotator's score on the gold traces of `kind` they submitted."""
    golds = dict(
        GoldItem.objects.filter(trace__problem__project=project, kind=kind).values_list(
            "trace_id", "source_id"
        )
    )
    if not golds:
        return {}
    done = Assignment.objects.filter(
        trace_id__in=golds, kind=ItemKind.GRADE, status=AssignmentStatus.SUBMITTED
    )
    if users is not None:
        done = done.filter(annotator_id__in=users)
    pairs = list(done.values_list("trace_id", "annotator_id"))
    if not pairs:
        return {}
    views = {
        v.trace.pk: v.steps for v in load_trace_views(list(Trace.objects.filter(pk__in=golds)))
    }
    nodes = {s.node_id for steps in views.values() for s in steps if s.node_id is not None}
    reference: dict[int, dict[UUID, int]] = defaultdict(dict)
    for source, node, rating in (
        current_grades()
        .filter(source_id__in=set(golds.values()), node_id__in=nodes, rating__isnull=False)
        .values_list("source_id", "node_id", "rating")
    ):
        reference[source][node] = int(rating or 0)
    given: dict[int, dict[UUID, int]] = defaultdict(dict)
    for user, node, rating in (
        current_grades()
        .filter(
            source__kind=SourceKind.HUMAN,
            source__user_id__in={u for _, u in pairs},
            node_id__in=nodes,
            rating__isnull=False,
        )
        .values_list("source__user_id", "node_id", "rating")
    ):
        given[user][node] = int(rating or 0)
    scores: dict[int, GoldScore] = defaultdict(GoldScore)
    for trace_id, user in pairs:
        steps = views.get(trace_id, [])
        expected = reference[golds[trace_id]]
        mine = given[user]
        score = scores[user]
        counted = _counted(steps, expected, project.stop_at_first_bad_step)
        score.steps += len(counted)
        score.correct_steps += sum(mine.get(node) == expected[node] for node in counted)
        path = [s.node_id for s in steps if s.on_path]
        score.traces += 1
        score.first_error_hits += first_error_index(
            [mine.get(n) for n in path if n is not None]
        ) == first_error_index([expected.get(n) for n in path if n is not None])
    return dict(scores)
