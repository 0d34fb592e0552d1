"""A reviewer's decision on submitted work."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.workspace.models import Assignment, AssignmentStatus, ReviewStatus
from annotation.workspace.services.drafts import MAX_TEXT
from annotation.workspace.services.errors import WorkspaceError


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
    if decision == ReviewStatus.REJECTED and not comment:
        raise WorkspaceError("Say in the comment why the work is rejected.")
    assignment.review_status = decision
    assignment.review_comment = comment[:MAX_TEXT]
    assignment.reviewer = reviewer
    assignment.reviewed_at = timezone.now()
    assignment.save(
        update_fields=["review_status", "review_comment", "reviewer", "reviewed_at", "updated_at"]
    )
    return assignment
