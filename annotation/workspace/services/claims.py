"""Claims: the annotator's next item, with at most `overlap` annotators per item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.core.models import Project
from annotation.evaluation.selectors import queue_order
from annotation.problems.models import Origin, Problem, Trace
from annotation.workspace.models import ACTIVE_STATUSES, Assignment, AssignmentStatus, ItemKind
from annotation.workspace.services.errors import WorkspaceError

# Traces that are put in front of annotators to grade. Thought records are reviewed, not graded;
# tree paths and long thoughts are researchers' material.
# Long thoughts (drafts and rewrites) are reviewed like any other model output.
GRADEABLE_ORIGINS = (
    Origin.IMPORTED,
    Origin.MODEL_SAMPLE,
    Origin.HUMAN_SOLUTION,
    Origin.EXPANSION,
    Origin.LONG_THOUGHT,
)


def expire_stale_claims(*, project: Project) -> int:
    """In-progress claims with no save for `claim_timeout_minutes` give their place back."""
    cutoff = timezone.now() - timedelta(minutes=project.claim_timeout_minutes)
    return Assignment.objects.filter(
        project=project, status=AssignmentStatus.IN_PROGRESS, updated_at__lt=cutoff
    ).update(status=AssignmentStatus.EXPIRED)


def _item_field(kind: str) -> str:
    return "trace" if kind == ItemKind.GRADE else "problem"


def _candidates(*, project: Project, kind: str) -> QuerySet[Any]:
    if kind == ItemKind.GRADE:
        return Trace.objects.filter(problem__project=project, origin__in=GRADEABLE_ORIGINS)
    return Problem.objects.filter(project=project)


def _active_count(kind: str, item_ref: Any) -> Subquery:
    field = _item_field(kind)
    return Subquery(
        Assignment.objects.filter(kind=kind, status__in=ACTIVE_STATUSES, **{field: item_ref})
        .order_by()
        .values(field)
        .annotate(n=Count("id"))
        .values("n"),
        output_field=IntegerField(),
    )


def open_items(*, project: Project, user: Any, kind: str) -> QuerySet[Any]:
    """Items this user could claim now: not done or skipped by them, with a free place."""
    field = _item_field(kind)
    mine_closed = Assignment.objects.filter(
        kind=kind,
        annotator=user,
        status__in=[AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED],
        **{field: OuterRef("pk")},
    )
    return (
        _candidates(project=project, kind=kind)
        .alias(taken=Coalesce(_active_count(kind, OuterRef("pk")), 0))
        .filter(~Exists(mine_closed), taken__lt=project.overlap)
    )


def _lock_user(project: Project, user: Any) -> None:
    """One claim at a time per annotator and project (two tabs pressing Next together)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [project.pk, user.pk])


def _place_is_free(kind: str, item_pk: int, overlap: int, exclude_pk: int | None) -> bool:
    # A new statement: under READ COMMITTED it sees every claim committed before our row lock.
    taken = Assignment.objects.filter(
        kind=kind, status__in=ACTIVE_STATUSES, **{f"{_item_field(kind)}_id": item_pk}
    )
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.count() < overlap


@transaction.atomic
def assignment_claim_next(*, project: Project, user: Any, kind: str) -> Assignment | None:
    """The annotator's in-progress item of this kind, else a new claim; None when none is left.

    The item row is locked with FOR UPDATE SKIP LOCKED and its claims are counted again after
    the lock, so concurrent claimers never put more than `overlap` annotators on one item.
    """
    if kind not in ItemKind.values:
        raise WorkspaceError(f"Unknown queue {kind!r}: use one of {', '.join(ItemKind.values)}.")
    _lock_user(project, user)
    expire_stale_claims(project=project)
    current = (
        Assignment.objects.filter(
            project=project, kind=kind, annotator=user, status=AssignmentStatus.IN_PROGRESS
        )
        .order_by("claimed_at", "id")
        .first()
    )
    if current is not None:
        return current
    skipped_over: set[int] = set()
    for _attempt in range(100):
        candidates = (
            open_items(project=project, user=user, kind=kind)
            .exclude(pk__in=skipped_over)
            .annotate(started=Coalesce(_active_count(kind, OuterRef("pk")), 0))
            # Finish items others started first, so agreement can be measured early.
            .order_by(*queue_order(kind))  # started items, then machine disagreement
        )
        item = candidates.select_for_update(skip_locked=True, of=("self",)).first()
        if item is None:
            # Every open item is being claimed right now: wait for one of those claims to end,
            # then count again (it may still have a place).
            item = candidates.select_for_update(of=("self",)).first()
        if item is None:
            return None
        previous = Assignment.objects.filter(
            kind=kind, annotator=user, **{_item_field(kind): item}
        ).first()
        if not _place_is_free(kind, item.pk, project.overlap, None):
            skipped_over.add(item.pk)
            continue
        now = timezone.now()
        if previous is not None:  # an expired claim of ours: take it up again, draft and all
            previous.status = AssignmentStatus.IN_PROGRESS
            previous.claimed_at = now
            previous.save(update_fields=["status", "claimed_at", "updated_at"])
            return previous
        problem_id = item.problem_id if kind == ItemKind.GRADE else item.pk
        return Assignment.objects.create(
            project=project,
            kind=kind,
            problem_id=problem_id,
            trace=item if kind == ItemKind.GRADE else None,
            annotator=user,
            claimed_at=now,
        )
    return None


@transaction.atomic
def assignment_skip(*, assignment: Assignment, reason: str) -> Assignment:
    reason = reason.strip()
    if not reason:
        raise WorkspaceError("Say why you skip this item (the reason field is empty).")
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        raise WorkspaceError(f"Only work in progress can be skipped; this is {assignment.status}.")
    assignment.status = AssignmentStatus.SKIPPED
    assignment.skip_reason = reason[:2000]
    assignment.save(update_fields=["status", "skip_reason", "updated_at"])
    return assignment


def reclaim_expired(assignment: Assignment) -> None:
    """A save on an expired claim takes its place back if the item still has room."""
    item_model = Trace if assignment.kind == ItemKind.GRADE else Problem
    item_pk = assignment.trace_id if assignment.kind == ItemKind.GRADE else assignment.problem_id
    assert item_pk is not None
    item_model.objects.select_for_update().filter(pk=item_pk).first()
    overlap = Project.objects.values_list("overlap", flat=True).get(pk=assignment.project_id)
    if not _place_is_free(assignment.kind, item_pk, overlap, assignment.pk):
        raise WorkspaceError(
            "Your claim on this item expired and others have taken its places; your draft is "
            "kept in this browser. Press Next for another item."
        )
    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.IN_PROGRESS)
