"""Versioned saves: the autosave of a draft (a grading item's ratings written as grades at
once) and the submit of a grading item. Every autosave comes here: its statements are fixed
(annotation/core/fixed_sql.py) and it adds no query."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from annotation.core.fixed_sql import execute
from annotation.grading.models import GradeSource
from annotation.grading.selectors import path_with_current_grades
from annotation.grading.services import StepGrade, person_grades_write, person_source
from annotation.problems.models import FinishReason
from annotation.problems.services import siblings_write
from annotation.workspace.models import Assignment, AssignmentStatus, ItemKind
from annotation.workspace.services.claims import reclaim_expired
from annotation.workspace.services.drafts import (
    _clean_time,
    finish_reason_of,
    parse_step_grades,
    parse_thoughts,
)
from annotation.workspace.services.errors import VersionConflict, WorkspaceError


def compare_and_swap(
    assignment: Assignment, *, version: Any, draft: dict[str, Any], time_spent_ms: int | None
) -> int:
    """Stores the draft as the next version if `version` is the stored one (one fixed UPDATE:
    every autosave runs it), else raises VersionConflict with the stored work."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkspaceError("version is missing: reload the page.")
    meta = Assignment._meta
    sql = (
        f"UPDATE {meta.db_table} SET version = version + 1, draft = %s, updated_at = %s, "
        "time_spent_ms = COALESCE(%s, time_spent_ms) WHERE id = %s AND version = %s"
    )
    params = [
        meta.get_field("draft").get_db_prep_save(draft, connection),
        meta.get_field("updated_at").get_db_prep_save(timezone.now(), connection),
        time_spent_ms,
        assignment.pk,
        version,
    ]
    if execute(sql, params) != 1:
        raise VersionConflict(Assignment.objects.get(pk=assignment.pk))
    return version + 1


def check_writable(assignment: Assignment) -> None:
    if assignment.status == AssignmentStatus.SKIPPED:
        raise WorkspaceError("You skipped this item; it can no longer be changed.")
    if assignment.kind == ItemKind.RECORD and assignment.status == AssignmentStatus.SUBMITTED:
        raise WorkspaceError("This thought record was submitted; it can no longer be changed.")
    if assignment.status == AssignmentStatus.EXPIRED:
        reclaim_expired(assignment)


def _commit_without_waiting_for_disk() -> None:
    """Autosaves commit asynchronously on PostgreSQL: a stall of the disk's flush (seen at up
    to a second on virtual disks) no longer holds every save. Only a crash of the database
    server can drop the last ~0.6 s of acknowledged autosaves; the editor still holds that
    state, and its next save answers 409 (it is ahead of the stored version) for "Keep mine".
    Submits always wait for the flush. STEPWISE_AUTOSAVE_ASYNC_COMMIT=false turns this off."""
    if connection.vendor == "postgresql" and settings.STEPWISE_AUTOSAVE_ASYNC_COMMIT:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@transaction.atomic
def assignment_save(
    *, assignment: Assignment, version: Any, draft: dict[str, Any], time_spent_ms: Any = None
) -> int:
    """Autosave: stores the draft if `version` is the stored one (else VersionConflict); for a
    grading item, the step ratings in it are written as versioned grades at once. Returns the
    new version."""
    check_writable(assignment)
    _commit_without_waiting_for_disk()
    spent = _clean_time(time_spent_ms)
    if assignment.kind == ItemKind.GRADE:
        assert assignment.trace_id is not None
        source = person_source(user=assignment.annotator)
        positions, current = path_with_current_grades(assignment.trace_id, source)
        wanted = parse_step_grades(draft.get("grades"), positions)
        # Only the save that wins the version check goes on to write grades.
        new_version = compare_and_swap(
            assignment, version=version, draft=draft, time_spent_ms=spent
        )
        person_grades_write(
            source=source,
            trace_id=assignment.trace_id,
            wanted=wanted,
            with_critique=False,
            current=current,
        )
        return new_version
    parse_thoughts(draft.get("thoughts"), strict=False)
    return compare_and_swap(assignment, version=version, draft=draft, time_spent_ms=spent)


@transaction.atomic
def grading_submit(
    *,
    assignment: Assignment,
    version: Any,
    draft: dict[str, Any],
    finish_reason: Any,
    time_spent_ms: Any = None,
) -> int:
    """Ends a grading item: every grade with its critique, corrected steps as +1 siblings."""
    check_writable(assignment)
    assert assignment.trace_id is not None
    reason = finish_reason_of(finish_reason)
    source = person_source(user=assignment.annotator)
    positions, current = path_with_current_grades(assignment.trace_id, source)
    wanted = parse_step_grades(draft.get("grades"), positions)
    by_position = sorted((positions[str(n)], g) for n, g in wanted.items())
    first_bad = next((p for p, g in by_position if g.rating == -1), None)
    if first_bad is not None and assignment.project.stop_at_first_bad_step:
        reason = FinishReason.FOUND_ERROR
    if reason == FinishReason.FOUND_ERROR and first_bad is None:
        raise WorkspaceError("Finishing with found_error needs a step rated -1.")
    if reason == FinishReason.SOLUTION:
        missing = sorted(
            p + 1
            for nid, p in positions.items()
            if uuid.UUID(nid) not in wanted or wanted[uuid.UUID(nid)].rating is None
        )
        if missing:
            raise WorkspaceError(
                f"Rate every step before finishing as solution; not rated: "
                f"{', '.join(map(str, missing))}."
            )
    for nid, grade in wanted.items():
        if grade.correction and grade.rating != -1:
            raise WorkspaceError(
                f"Step {positions[str(nid)] + 1}: a corrected step is only for a step rated -1."
            )
    new_version = compare_and_swap(
        assignment, version=version, draft=draft, time_spent_ms=_clean_time(time_spent_ms)
    )
    person_grades_write(
        source=source,
        trace_id=assignment.trace_id,
        wanted=wanted,
        with_critique=True,
        current=current,
    )
    _write_corrections(assignment, source, wanted)
    now = timezone.now()
    Assignment.objects.filter(pk=assignment.pk).update(
        status=AssignmentStatus.SUBMITTED, finish_reason=reason, submitted_at=now
    )
    return new_version


def _write_corrections(
    assignment: Assignment, source: GradeSource, wanted: dict[uuid.UUID, StepGrade]
) -> None:
    """A corrected step is a sibling of the step rated -1, graded +1 by the same person."""
    bad = {nid: g.correction for nid, g in wanted.items() if g.correction}
    if not bad:
        return
    siblings = siblings_write(problem_id=assignment.problem_id, texts=bad)
    assert assignment.trace_id is not None
    person_grades_write(
        source=source,
        trace_id=assignment.trace_id,
        wanted={sibling: StepGrade(rating=1, unsure=False) for sibling in siblings.values()},
        with_critique=True,
    )
