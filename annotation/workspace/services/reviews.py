"""A reviewer's decision on submitted work: accept, reject, or return it to its annotator.

A returned item is open again for its annotator as a new version of the claim (any window
still on the old version gets a conflict); every change they make is a new grade version, and
their next submit is final again until the next review.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.workspace.models import (
    Assignment,
    AssignmentStatus,
    EventKind,
    ReviewStatus,
)
from annotation.workspace.services.drafts import MAX_TEXT
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.events import event_add


@transaction.atomic
def assignment_review(
    *, assignment: Assignment, reviewer: Any, decision: str, comment: str
) -> Assignment:
    if decision not in ReviewStatus.values:
        raise WorkspaceError(f"Decide with one of {', '.join(ReviewStatus.values)}.")
    if assignment.status != AssignmentStatus.SUBMITTED:
        raise WorkspaceError("Only submitted work can be reviewed.")
    if assignment.annotator_id == reviewer.pk:
        raise WorkspaceError("You cannot review your own work; ask another reviewer.")
    comment = comment.strip()
    if decision in (ReviewStatus.REJECTED, ReviewStatus.RETURNED) and not comment:
        raise WorkspaceError(f"Say in the comment why the work is {decision}.")
    assignment.review_status = decision
    assignment.review_comment = comment[:MAX_TEXT]
    assignment.reviewer = reviewer
    assignment.reviewed_at = timezone.now()
    fields = ["review_status", "review_comment", "reviewer", "reviewed_at", "updated_at"]
    if decision == ReviewStatus.RETURNED:
        Assignment.objects.filter(pk=assignment.pk).update(version=F("version") + 1)
        assignment.version += 1
        assignment.status = AssignmentStatus.IN_PROGRESS
        assignment.claimed_at = assignment.reviewed_at
        fields += ["status", "claimed_at"]
    assignment.save(update_fields=fields)
    event_add(
        assignment,
        decision,  # the event kinds accepted, rejected and returned are the decisions
        actor=reviewer,
        version=assignment.version,
        comment=assignment.review_comment,
    )
    return assignment


def assignment_return(*, assignment: Assignment, reviewer: Any, comment: str) -> Assignment:
    """Opens submitted work again for its annotator, with the reviewer's comment."""
    return assignment_review(
        assignment=assignment, reviewer=reviewer, decision=ReviewStatus.RETURNED, comment=comment
    )


assert set(ReviewStatus.values) <= set(EventKind.values)
