"""Whether labels may teach a model, read once per export chunk for the labelled paths.

Labels are left out of the step-label formats by default (each with its reason in the
manifest) when they were given on a gold item (a quality-control or screening question: it
measures the person, and an imported PRM800K row says so in its flags), by a person who did
not pass screening in the project, or in work the review filter leaves out (rejected or
returned; with review=accepted, anything not accepted).
"""

from __future__ import annotations

from collections.abc import Sequence

from annotation.grading.models import GradeSource, SourceKind
from annotation.grading.selectors import Eligibility
from annotation.problems.models import Trace
from annotation.problems.selectors import TraceView
from annotation.workspace.models import GoldItem, Purpose, Standing, StandingStatus
from annotation.workspace.review_filter import graders_passing, traces_passing

GOLD_PURPOSES = (Purpose.QC, Purpose.SCREENING)
_GOLD_FLAGS = ("is_quality_control_question", "is_initial_screening_question")


def attach_eligibility(views: Sequence[TraceView], review: str) -> None:
    """Sets `eligibility` on each view (a few queries per chunk, none per view). `review` is
    the review filter whose left-out work is marked rejected."""
    if not views:
        return
    trace_ids = {view.trace.pk for view in views}
    graders = {(view.trace.pk, view.grader) for view in views if view.grader}
    passing_traces: set[int] | None = None
    passing_graders: set[tuple[int, int]] | None = None
    if review != "all":
        passing_traces = set(
            traces_passing(Trace.objects.filter(pk__in=trace_ids), review).values_list(
                "pk", flat=True
            )
        )
        passing_graders = graders_passing(review)(graders)
    gold = set(GoldItem.objects.filter(trace_id__in=trace_ids).values_list("trace_id", flat=True))
    people = dict(
        GradeSource.objects.filter(
            pk__in={grader for _, grader in graders}, kind=SourceKind.HUMAN
        ).values_list("pk", "user_id")
    )
    failed = set(
        Standing.objects.filter(
            project_id__in={view.trace.problem.project_id for view in views},
            user_id__in=set(people.values()),
            status=StandingStatus.FAILED,
        ).values_list("project_id", "user_id")
    )
    for view in views:
        trace = view.trace
        imported = (trace.metadata or {}).get("prm800k") or {}
        user = people.get(view.grader)
        view.eligibility = Eligibility(
            gold_item=trace.pk in gold
            or (view.labeling or {}).get("purpose") in GOLD_PURPOSES
            or any(imported.get(flag) is True for flag in _GOLD_FLAGS),
            screening_failed=(trace.problem.project_id, user) in failed,
            rejected=(passing_traces is not None and trace.pk not in passing_traces)
            or (
                passing_graders is not None
                and bool(view.grader)
                and (trace.pk, view.grader) not in passing_graders
            ),
        )
