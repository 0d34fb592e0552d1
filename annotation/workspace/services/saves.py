"""Versioned saves: the autosave of a draft (a grading item's ratings written as grades at
once) and the submit of a grading item. Every autosave comes here: its statements are fixed
(annotation/core/fixed_sql.py) and it adds no query.

Submitted (and skipped) work is final: a write raises WorkLocked until a reviewer returns it.
Where the project stops at the first error, a rating after the first path step rated -1 is
refused."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.core.models import Project
from annotation.grading.models import GradeSource
from annotation.grading.selectors import TraceGrades, path_with_current_grades
from annotation.grading.services import StepGrade, person_grades_write, person_source
from annotation.problems.models import FinishReason
from annotation.workspace.models import Assignment, AssignmentStatus, EventKind, ItemKind
from annotation.workspace.services.drafts import (
    _clean_time,
    finish_reason_of,
    parse_step_grades,
    parse_thoughts,
)
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.events import event_add
from annotation.workspace.services.paths import (
    graded_view,
    path_departure,
    path_ends_in_answer,
    work_path_write,
    written_positions,
)
from annotation.workspace.services.time_on_item import time_on_item_report
from annotation.workspace.services.versions import check_writable, compare_and_swap


def check_stop_at_first_error(
    project: Project, steps: TraceGrades, wanted: dict[uuid.UUID, StepGrade]
) -> int | None:
    """Where the project stops at the first error, nothing after the first path step rated -1
    (in this save, or saved before and not changed by it) may be rated. Returns that step's
    position there (None elsewhere, or when no path step is rated -1)."""
    if not project.stop_at_first_bad_step:
        return None

    def rating(nid: str) -> int | None:
        node = uuid.UUID(nid)
        if node in wanted:
            return wanted[node].rating
        old = steps.current.get(node)
        return old.rating if old is not None else None

    first_bad = min((steps.positions[nid] for nid in steps.path if rating(nid) == -1), default=None)
    if first_bad is None:
        return None
    late = sorted(
        steps.positions[str(nid)]
        for nid, grade in wanted.items()
        if grade.rating is not None and steps.positions[str(nid)] > first_bad
    )
    if late:
        raise WorkspaceError(
            f"Step {late[0] + 1}: this project stops at the first error (step {first_bad + 1} "
            "is rated -1); clear the ratings after it."
        )
    return first_bad


def _commit_without_waiting_for_disk() -> bool:
    """Autosaves commit asynchronously on PostgreSQL: a stall of the disk's flush (seen at up
    to a second on virtual disks) no longer holds every save. Only a crash of the database
    server can drop the last ~0.6 s of acknowledged autosaves; the editor still holds that
    state, and its next save answers 409 (it is ahead of the stored version) for "Keep mine".
    Submits always wait for the flush. STEPWISE_AUTOSAVE_ASYNC_COMMIT=false turns this off.
    Asked by the version's swap itself (no statement of its own)."""
    return bool(settings.STEPWISE_AUTOSAVE_ASYNC_COMMIT)


@transaction.atomic
def assignment_save(
    *, assignment: Assignment, version: Any, draft: dict[str, Any], time_spent_ms: Any = None
) -> int:
    """Autosave: stores the draft if `version` is the stored one (else VersionConflict); for a
    grading item, the step ratings in it are written as versioned grades at once. Returns the
    new version."""
    check_writable(assignment)
    commit_async = _commit_without_waiting_for_disk()
    spent = _clean_time(time_spent_ms)
    if assignment.kind == ItemKind.GRADE:
        assert assignment.trace_id is not None
        trace_id = assignment.graded_trace_id
        assert trace_id is not None
        source = person_source(user=assignment.annotator)
        steps = path_with_current_grades(trace_id, source)
        wanted = parse_step_grades(draft.get("grades"), steps.positions)
        check_stop_at_first_error(assignment.project, steps, wanted)
        # Only the save that wins the version check goes on to write grades.
        new_version = compare_and_swap(
            assignment, version=version, draft=draft, commit_async=commit_async
        )
        time_on_item_report(assignment=assignment, total_ms=spent)
        person_grades_write(
            source=source,
            trace_id=trace_id,
            wanted=wanted,
            with_critique=False,
            current=steps.current,
        )
        return new_version
    parse_thoughts(draft.get("thoughts"), strict=False)
    new_version = compare_and_swap(
        assignment, version=version, draft=draft, commit_async=commit_async
    )
    time_on_item_report(assignment=assignment, total_ms=spent)
    return new_version


@transaction.atomic
def grading_submit(
    *,
    assignment: Assignment,
    version: Any,
    draft: dict[str, Any],
    finish_reason: Any,
    time_spent_ms: Any = None,
) -> int:
    """Ends a grading item: every grade with its critique. A corrected step (given with a path
    step rated -1) becomes the annotator's own step there (annotation/workspace/services/
    paths.py): the path continues from it. Then the work is final until a reviewer returns it."""
    check_writable(assignment)
    reason = finish_reason_of(finish_reason)
    trace_id = assignment.graded_trace_id
    assert trace_id is not None
    source = person_source(user=assignment.annotator)
    steps = path_with_current_grades(trace_id, source)
    wanted = parse_step_grades(draft.get("grades"), steps.positions)
    stop_bad = check_stop_at_first_error(assignment.project, steps, wanted) is not None
    corrections = sorted(
        (steps.positions[str(nid)], grade.correction)
        for nid, grade in wanted.items()
        if grade.correction
    )
    for nid, grade in wanted.items():
        if grade.correction and (grade.rating != -1 or str(nid) not in steps.path):
            raise WorkspaceError(
                f"Step {steps.positions[str(nid)] + 1}: a corrected step is only for a step of "
                "the path rated -1."
            )
    new_version = compare_and_swap(assignment, version=version, draft=draft)
    time_on_item_report(assignment=assignment, total_ms=_clean_time(time_spent_ms))
    person_grades_write(
        source=source, trace_id=trace_id, wanted=wanted, with_critique=True, current=steps.current
    )
    if corrections:
        position, text = corrections[0]  # the path continues from the first one
        assignment.version = new_version
        new_version = work_path_write(
            assignment=assignment, version=new_version, position=position, text=text
        )
    reason = FinishReason.FOUND_ERROR if stop_bad else _finish(assignment, source, reason)
    Assignment.objects.filter(pk=assignment.pk).update(
        status=AssignmentStatus.SUBMITTED,
        finish_reason=reason,
        submitted_at=timezone.now(),
        review_status=None,  # a new submit awaits its review (the events keep the last one)
    )
    event_add(assignment, EventKind.SUBMITTED, actor=assignment.annotator, version=new_version)
    return new_version


def _finish(assignment: Assignment, source: GradeSource, reason: str) -> str:
    """The finish reason to store, checked against the grades as they now are: found_error
    needs a step rated -1 (and is what a project that stops at the first error records when
    the path has one); solution needs every path step rated but the annotator's own."""
    trace_id = assignment.graded_trace_id
    assert trace_id is not None
    steps = path_with_current_grades(trace_id, source)
    rated = {
        steps.positions[str(nid)]: grade.rating
        for nid, grade in steps.current.items()
        if str(nid) in steps.path
    }
    if -1 in rated.values() and assignment.project.stop_at_first_bad_step:
        reason = FinishReason.FOUND_ERROR
    if reason == FinishReason.FOUND_ERROR and all(g.rating != -1 for g in steps.current.values()):
        raise WorkspaceError("Finishing with found_error needs a step rated -1.")
    if reason == FinishReason.SOLUTION:
        own = _own_steps(assignment)
        missing = sorted(
            p + 1
            for nid, p in steps.positions.items()
            if nid in steps.path and p not in rated and p not in own
        )
        if missing:
            raise WorkspaceError(
                f"Rate every step before finishing as solution; not rated: "
                f"{', '.join(map(str, missing))}."
            )
        # The annotator's own path (an alternative chosen, a step written) must reach an
        # answer to be a solution; a trace graded as it came (or restored) is judged by its
        # grades alone.
        if path_departure(assignment) is not None and not path_ends_in_answer(
            graded_view(assignment)
        ):
            raise WorkspaceError(
                "The path ends without a final answer, so it is not a solution: write the next "
                "step, let the model continue, or finish as give up."
            )
    return reason


def _own_steps(assignment: Assignment) -> set[int]:
    """Path positions of steps the annotator wrote (they need no rating of their own)."""
    if assignment.work_trace_id is None:
        return set()
    return written_positions(assignment.work_trace_id)
