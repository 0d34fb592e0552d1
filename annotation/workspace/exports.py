"""What exports read of the workspace: the annotator's work behind a person's grades."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q

from annotation.grading.models import GradeSource, SourceKind
from annotation.problems.selectors import TraceView
from annotation.workspace.models import Assignment


def attach_labeling(views: Sequence[TraceView]) -> None:
    """Sets `labeling` on each view graded by an annotator who claimed the trace (or whose own
    path it is): their finish reason, time spent, when they submitted, and the item's purpose
    (work, qc or screening). One query for the sources, one for the claims."""
    graders = {v.grader for v in views if v.grader}
    if not graders:
        return
    people = dict(
        GradeSource.objects.filter(pk__in=graders, kind=SourceKind.HUMAN).values_list(
            "pk", "user_id"
        )
    )
    if not people:
        return
    traces = {v.trace.pk for v in views if v.grader in people}
    claims: dict[tuple[int, int], Assignment] = {}
    for claim in Assignment.objects.filter(
        Q(trace_id__in=traces) | Q(work_trace_id__in=traces),
        annotator_id__in=set(people.values()),
    ).only(
        "trace_id",
        "work_trace_id",
        "annotator_id",
        "finish_reason",
        "time_spent_ms",
        "submitted_at",
        "purpose",
    ):
        for trace_id in (claim.trace_id, claim.work_trace_id):
            if trace_id is not None:
                claims[(trace_id, claim.annotator_id)] = claim
    for view in views:
        user = people.get(view.grader)
        found = claims.get((view.trace.pk, user)) if user is not None else None
        if found is not None:
            claim = found
            view.labeling = {
                "finish_reason": claim.finish_reason,
                "time_spent_ms": claim.time_spent_ms,
                "submitted_at": claim.submitted_at,
                "purpose": claim.purpose,
            }
