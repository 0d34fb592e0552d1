"""The grading queue read through its kept entries (QueueEntry, kept by the database's
triggers, migration 0004): the next work item for an annotator and how many are open to them,
by index reads whatever the project's size.

The order is the claim's (annotation/evaluation/selectors.py `queue_order`): items others
started first, the most started first; then the traces machines disagree on most; then by id.
An item with `overlap` active claims is full. Each number of active claims below the overlap is
one range of the order index, read in the index's order, so a claim reads the first open entry
of the first range that has one instead of ordering every open trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from annotation.core.models import Project
from annotation.evaluation.selectors import machine_disagreement
from annotation.problems.models import Origin, Trace
from annotation.workspace.models import (
    ACTIVE_STATUSES,
    Assignment,
    AssignmentStatus,
    GoldItem,
    ItemKind,
    QueuedTrace,
    QueueEntry,
    QueueSize,
)

# Which traces the queue holds (services/claims.py reads these too): datasets' and people's
# solutions without anyone sending them; model outputs when sent, or when the project queues
# every job's outputs; never a thought record (reviewed) or a labeled path (someone's work).
HUMAN_ORIGINS = (Origin.IMPORTED, Origin.HUMAN_SOLUTION)
MACHINE_ORIGINS = (Origin.MODEL_SAMPLE, Origin.EXPANSION, Origin.LONG_THOUGHT)
NEVER_QUEUED_ORIGINS = (Origin.THOUGHT_RECORD, Origin.LABELED)


def entries_kept() -> bool:
    """PostgreSQL keeps the entries; the SQLite first-run database has no statement triggers
    (its projects are small: the claim orders by the expression there)."""
    return connection.vendor == "postgresql"


def open_entries(*, project: Project, user: Any) -> QuerySet[QueueEntry]:
    """The project's work entries this user may still claim, full ones included (the callers
    bound `active`): in the queue, not gold, not submitted or skipped by them."""
    member = Q(queued=True)
    if project.queue_job_outputs:
        member |= Q(origin__in=MACHINE_ORIGINS)
    mine_closed = Assignment.objects.filter(
        kind=ItemKind.GRADE,
        annotator=user,
        status__in=[AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED],
        trace_id=OuterRef("trace_id"),
    )
    return QueueEntry.objects.filter(member, project=project).filter(
        ~Exists(GoldItem.objects.filter(trace_id=OuterRef("trace_id"))), ~Exists(mine_closed)
    )


def entries_in_order(*, project: Project, user: Any, active: int) -> QuerySet[QueueEntry]:
    """Open entries with `active` claims, in the queue's order (one range of the index)."""
    return (
        open_entries(project=project, user=user)
        .filter(active=active)
        .order_by(F("priority").desc(nulls_last=True), "trace_id")
    )


def queued_count(project: Project) -> int:
    """The traces in the project's grading queue (gold items among them), from its kept
    QueueSize row."""
    size = QueueSize.objects.filter(project=project).first()
    if size is None:
        return 0
    return size.queued + (size.outputs if project.queue_job_outputs else 0)


def open_entry_count(*, project: Project, user: Any, cap: int) -> int:
    """How many items the user could claim now, counted up to `cap` + 1."""
    entries = open_entries(project=project, user=user).filter(active__lt=project.overlap)
    return entries[: cap + 1].count()


@dataclass(frozen=True, slots=True)
class EntryState:
    queued: bool
    active: int
    priority: float | None


def kept_entries(project: Project) -> dict[int, EntryState]:
    """Per trace id, the project's kept entry."""
    rows = QueueEntry.objects.filter(project=project).values_list(
        "trace_id", "queued", "active", "priority"
    )
    return {trace: EntryState(queued, active, priority) for trace, queued, active, priority in rows}


def computed_entries(project: Project) -> dict[int, EntryState]:
    """The same computed over the rows (the whole project: for tests)."""
    active = Assignment.objects.filter(
        kind=ItemKind.GRADE, status__in=ACTIVE_STATUSES, trace_id=OuterRef("pk")
    )
    rows = (
        Trace.objects.filter(problem__project=project)
        .exclude(origin__in=NEVER_QUEUED_ORIGINS)
        .annotate(
            sent=Exists(QueuedTrace.objects.filter(trace_id=OuterRef("pk"))),
            claims=Coalesce(
                Subquery(
                    active.order_by().values("trace_id").annotate(n=Count("id")).values("n"),
                    output_field=IntegerField(),
                ),
                0,
            ),
            priority=machine_disagreement(),
        )
        .values_list("pk", "origin", "sent", "claims", "priority")
    )
    return {
        pk: EntryState(origin in HUMAN_ORIGINS or sent, claims, priority)
        for pk, origin, sent, claims, priority in rows
    }
