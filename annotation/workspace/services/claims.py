"""Claims: the annotator's next item, with at most `overlap` annotators per item.

What a grading queue holds: imported traces and human solutions, and model outputs only where
a researcher sent them there (QueuedTrace) or the project queues every job's outputs. Gold
items (screening and QC) are not work: an annotator in screening gets the screening items and
nothing else; an active one gets QC items mixed into their work at the project's rate (see
services/standing.py); every annotator gets each gold item, whatever the overlap.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.core.models import Project
from annotation.evaluation.selectors import queue_order
from annotation.problems.models import Problem, Trace
from annotation.workspace.models import (
    ACTIVE_STATUSES,
    Assignment,
    AssignmentStatus,
    GoldItem,
    ItemKind,
    Purpose,
    QueuedTrace,
    QueueEntry,
    ReviewStatus,
    StandingStatus,
)
from annotation.workspace.queue_entries import (
    HUMAN_ORIGINS,
    MACHINE_ORIGINS,
    NEVER_QUEUED_ORIGINS,
    entries_in_order,
    entries_kept,
    open_entries,
)
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.standing import refusal, standing_of

# Which traces the grading queue holds (queue_entries.py says why).
HUMAN_QUEUE_ORIGINS = HUMAN_ORIGINS
MACHINE_QUEUE_ORIGINS = MACHINE_ORIGINS
GRADEABLE_ORIGINS = HUMAN_QUEUE_ORIGINS + MACHINE_QUEUE_ORIGINS


def claims_expire_stale(*, project: Project) -> int:
    """In-progress claims with no save for `claim_timeout_minutes` give their place back (a
    claim a reviewer returned stays its annotator's)."""
    cutoff = timezone.now() - timedelta(minutes=project.claim_timeout_minutes)
    return (
        Assignment.objects.filter(
            project=project, status=AssignmentStatus.IN_PROGRESS, updated_at__lt=cutoff
        )
        .exclude(review_status=ReviewStatus.RETURNED)
        .update(status=AssignmentStatus.EXPIRED)
    )


def _item_field(kind: str) -> str:
    return "trace" if kind == ItemKind.GRADE else "problem"


def queued_traces(project: Project) -> QuerySet[Trace]:
    """The project's traces that are in the grading queue (gold items among them)."""
    sent = Exists(QueuedTrace.objects.filter(trace=OuterRef("pk")))
    rule = Q(origin__in=HUMAN_QUEUE_ORIGINS) | Q(sent)
    if project.queue_job_outputs:
        rule |= Q(origin__in=MACHINE_QUEUE_ORIGINS)
    return Trace.objects.filter(rule, problem__project=project).exclude(
        origin__in=NEVER_QUEUED_ORIGINS
    )


def gold_traces(project: Project, kind: str) -> QuerySet[Trace]:
    """The project's screening or QC traces."""
    return Trace.objects.filter(problem__project=project, gold__kind=kind)


def _candidates(*, project: Project, kind: str, purpose: str = Purpose.WORK) -> QuerySet[Any]:
    if kind == ItemKind.RECORD:
        return Problem.objects.filter(project=project)
    if purpose != Purpose.WORK:
        return gold_traces(project, purpose)
    return queued_traces(project).exclude(Exists(GoldItem.objects.filter(trace=OuterRef("pk"))))


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


def open_items(
    *, project: Project, user: Any, kind: str, purpose: str = Purpose.WORK
) -> QuerySet[Any]:
    """Items this user could claim now: not done or skipped by them, with a free place (a gold
    item has one for everyone)."""
    field = _item_field(kind)
    mine_closed = Assignment.objects.filter(
        kind=kind,
        annotator=user,
        status__in=[AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED],
        **{field: OuterRef("pk")},
    )
    items = _candidates(project=project, kind=kind, purpose=purpose).filter(~Exists(mine_closed))
    if purpose != Purpose.WORK:
        return items
    return items.alias(taken=Coalesce(_active_count(kind, OuterRef("pk")), 0)).filter(
        taken__lt=project.overlap
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


def qc_turn(*, project: Project, user: Any, claimed: int, qc_claimed: int) -> bool:
    """Whether the annotator's next grading claim (after `claimed`, `qc_claimed` of them QC) is
    a QC item: their QC count stays within one of the rate times their claims, and where the
    rate allows either, a draw seeded by (project, user, claim number) decides, so QC items
    come at no guessable place."""
    rate = project.qc_rate
    expected = (claimed + 1) * rate
    if qc_claimed < math.floor(expected):
        return True
    if qc_claimed >= math.ceil(expected):
        return False
    seed = hashlib.sha256(f"qc:{project.pk}:{user.pk}:{claimed}".encode()).digest()
    draw = int.from_bytes(seed[:8], "big") / 2**64
    return draw < expected - math.floor(expected)


def _purpose_of_next(project: Project, user: Any, kind: str, *, screening_done: bool) -> str:
    """Screening while the annotator is in screening, else QC at the project's rate, else
    work; Refused when they may not work (paused, did not pass)."""
    standing = standing_of(project=project, user=user, screening_done=screening_done)
    refused = refusal(standing)
    if refused is not None:
        raise Refused(refused)
    if standing.status == StandingStatus.SCREENING:
        if kind == ItemKind.RECORD:
            raise Refused(
                "Grade the screening traces first (Next trace); real work opens when you pass."
            )
        return Purpose.SCREENING
    if kind == ItemKind.GRADE and project.qc_rate > 0:
        mine = Assignment.objects.filter(
            project=project, annotator=user, kind=ItemKind.GRADE
        ).exclude(purpose=Purpose.SCREENING)
        counts = mine.aggregate(n=Count("id"), qc=Count("id", filter=Q(purpose=Purpose.QC)))
        if qc_turn(project=project, user=user, claimed=counts["n"], qc_claimed=counts["qc"]):
            return Purpose.QC
    return Purpose.WORK


class Refused(Exception):
    """The annotator gets no item; the claim's transaction ends normally (a screening just
    judged stays judged) and the message goes to them as a WorkspaceError."""


CLAIM_ATTEMPTS = 5


def _is_deadlock(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == "40P01"  # deadlock_detected


def assignment_claim_next(*, project: Project, user: Any, kind: str) -> Assignment | None:
    """The annotator's in-progress item of this kind, else a new claim; None when none is left.

    The item row is locked with FOR UPDATE SKIP LOCKED and its claims are counted again after
    the lock, so concurrent claimers never put more than `overlap` annotators on one item.
    """
    if kind not in ItemKind.values:
        raise WorkspaceError(f"Unknown queue {kind!r}: use one of {', '.join(ItemKind.values)}.")
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            claim, refused = _claim_next(project, user, kind)
            break
        except OperationalError as error:
            # Claimers that wait for entries others lock can close a cycle; PostgreSQL ends one
            # transaction of it, which is tried again (only as a transaction of its own).
            last = attempt == CLAIM_ATTEMPTS - 1
            if last or connection.in_atomic_block or not _is_deadlock(error):
                raise
    if refused is not None:
        raise WorkspaceError(refused)
    return claim


@transaction.atomic
def _claim_next(project: Project, user: Any, kind: str) -> tuple[Assignment | None, str | None]:
    _lock_user(project, user)
    claims_expire_stale(project=project)
    current = (
        Assignment.objects.filter(
            project=project, kind=kind, annotator=user, status=AssignmentStatus.IN_PROGRESS
        )
        .order_by("claimed_at", "id")
        .first()
    )
    if current is not None:
        return current, None
    screening_done = False
    while True:
        try:
            purpose = _purpose_of_next(project, user, kind, screening_done=screening_done)
        except Refused as refused:
            return None, str(refused)
        claim = _claim(project, user, kind, purpose)
        if claim is None and purpose == Purpose.QC:  # no QC item left for them: work goes on
            claim = _claim(project, user, kind, Purpose.WORK)
        if claim is not None or purpose != Purpose.SCREENING or screening_done:
            return claim, None
        screening_done = True  # no screening item left: judged now, then asked again


def _claim(project: Project, user: Any, kind: str, purpose: str) -> Assignment | None:
    skipped_over: set[int] = set()
    overlap = project.overlap if purpose == Purpose.WORK else 2**31 - 1
    for _attempt in range(100):
        if kind == ItemKind.GRADE and purpose == Purpose.WORK and entries_kept():
            item: Any = _next_entry_trace(project, user, skipped_over)
        else:
            item = _next_item(project, user, kind, purpose, skipped_over)
        if item is None:
            return None
        previous = Assignment.objects.filter(
            kind=kind, annotator=user, **{_item_field(kind): item}
        ).first()
        if not _place_is_free(kind, item.pk, overlap, None):
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
            purpose=purpose,
        )
    return None


def _next_item(project: Project, user: Any, kind: str, purpose: str, skipped_over: set[int]) -> Any:
    """The first open item in the queue's order, locked; ordered by the expression over every
    open item (gold items, record items, and the SQLite first-run database)."""
    candidates = (
        open_items(project=project, user=user, kind=kind, purpose=purpose)
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
    return item


def _next_entry_trace(project: Project, user: Any, skipped_over: set[int]) -> Trace | None:
    """The same through the kept queue entries (queue_entries.py): per number of active claims,
    most first, the first open entry in the index's order, its entry row locked (a claim's
    lock on an item; assignment_reclaim_expired takes the same)."""
    bound = project.overlap
    while True:
        level = (
            open_entries(project=project, user=user)
            .filter(active__lt=bound)
            .order_by("-active")
            .values_list("active", flat=True)
            .first()
        )
        if level is None:
            break
        entry = (
            entries_in_order(project=project, user=user, active=level)
            .exclude(trace_id__in=skipped_over)
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if entry is not None:
            return Trace.objects.get(pk=entry.trace_id)
        bound = level
    # Every open item is being claimed right now: wait for one of those claims to end; the
    # row is read again after the wait, and taken if it still has a place.
    entry = (
        open_entries(project=project, user=user)
        .filter(active__lt=project.overlap)
        .exclude(trace_id__in=skipped_over)
        .order_by("-active", F("priority").desc(nulls_last=True), "trace_id")
        .select_for_update(of=("self",))
        .first()
    )
    return Trace.objects.get(pk=entry.trace_id) if entry is not None else None


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


def assignment_reclaim_expired(assignment: Assignment) -> None:
    """A save on an expired claim takes its place back if the item still has room."""
    item_model = Trace if assignment.kind == ItemKind.GRADE else Problem
    item_pk = assignment.trace_id if assignment.kind == ItemKind.GRADE else assignment.problem_id
    assert item_pk is not None
    if assignment.kind == ItemKind.GRADE and entries_kept():  # the lock a claim takes
        QueueEntry.objects.select_for_update().filter(trace_id=item_pk).first()
    else:
        item_model.objects.select_for_update().filter(pk=item_pk).first()
    overlap = Project.objects.values_list("overlap", flat=True).get(pk=assignment.project_id)
    if assignment.purpose != Purpose.WORK:
        overlap = 2**31 - 1  # everyone gets a gold item
    if not _place_is_free(assignment.kind, item_pk, overlap, assignment.pk):
        raise WorkspaceError(
            "Your claim on this item expired and others have taken its places; your draft is "
            "kept in this browser. Press Next for another item."
        )
    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.IN_PROGRESS)
