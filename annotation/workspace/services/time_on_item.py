"""Time on an item: the server adds up the annotator's time on a claim.

The page counts the time the annotator is on it (visible, and they did something in the last
minute, or they wait for the model's continuation) and hands what it counted to the server in
flushes: a heartbeat while they work, when the page is hidden or left (a reload too), and
around a model continuation (static/js/time_on_item.js). The server adds each flush to the
claim, so a reload, a second tab or a wait for the model loses nothing and counts nothing twice.

Bounded against a page that claims more than passed: one flush adds at most the wall time
since the claim's previous flush (or its claim), and at most IDLE_CAP_MS (a page that kept
counting while offline or asleep). Submitted and skipped work counts no more time.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from annotation.workspace.models import Assignment, AssignmentStatus
from annotation.workspace.services.errors import WorkGone, WorkLocked

IDLE_CAP_MS = 5 * 60 * 1000  # the most one flush adds


@dataclass(frozen=True, slots=True)
class TimeCounted:
    added_ms: int  # what this flush added
    time_spent_ms: int  # the claim's time on the item now


def _locked_claim(assignment: Assignment) -> Assignment:
    """The claim's row, locked (a save in progress holds the lock already), with what time
    counting reads; WorkLocked for submitted and skipped work, WorkGone for deleted work."""
    claim = (
        Assignment.objects.select_for_update()
        .only("status", "time_spent_ms", "time_counted_at", "claimed_at")
        .filter(pk=assignment.pk)
        .first()
    )
    if claim is None:
        raise WorkGone
    if claim.status in (AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED):
        raise WorkLocked(claim)
    return claim


def _count(claim: Assignment, elapsed_ms: int) -> TimeCounted:
    now = timezone.now()
    since = claim.time_counted_at or claim.claimed_at
    wall_ms = max(0, int((now - since).total_seconds() * 1000))
    added = max(0, min(elapsed_ms, wall_ms, IDLE_CAP_MS))
    total = claim.time_spent_ms + added
    Assignment.objects.filter(pk=claim.pk).update(time_spent_ms=total, time_counted_at=now)
    return TimeCounted(added_ms=added, time_spent_ms=total)


@transaction.atomic
def time_on_item_add(*, assignment: Assignment, elapsed_ms: int) -> TimeCounted:
    """Adds the page's `elapsed_ms` (0 or more) to the claim's time on the item, bounded by the
    wall time since the previous flush and by IDLE_CAP_MS."""
    return _count(_locked_claim(assignment), elapsed_ms)


def time_on_item_report(*, assignment: Assignment, total_ms: int | None) -> None:
    """A client that sends its own total (the `time_spent_ms` of a save or submit, as API
    clients did before the page flushed its time): what it adds to the stored total counts,
    bounded as a flush. Runs in the save's or submit's transaction (two statements: the
    claim's row read, already locked by the version's swap, and the update)."""
    if total_ms is None:
        return
    claim = _locked_claim(assignment)
    if total_ms > claim.time_spent_ms:
        _count(claim, total_ms - claim.time_spent_ms)
