"""An annotator's standing in a project: screened first, then active, or paused by an admin.

A member's first claim makes their standing: in screening when the project screens (it has a
pass threshold and screening items) and they are an annotator (reviewers and admins are
trusted), else active. In screening they get the screening items only; when none is left their
accuracy on them (annotation/workspace/quality.py) decides: at or above the threshold they are
active, below it they get no more items until an admin lets them work.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotation.core.access import Ability, abilities
from annotation.core.models import Project
from annotation.workspace.models import GoldItem, GoldKind, Standing, StandingStatus
from annotation.workspace.quality import gold_scores
from annotation.workspace.services.errors import WorkspaceError

# What an admin may set an annotator's standing to.
ADMIN_STATUSES = (StandingStatus.ACTIVE, StandingStatus.PAUSED)


def screens(project: Project) -> bool:
    return (
        project.screening_threshold is not None
        and GoldItem.objects.filter(
            trace__problem__project=project, kind=GoldKind.SCREENING
        ).exists()
    )


def _first_status(project: Project, user: Any) -> str:
    if Ability.REVIEW in abilities(user, project) or not screens(project):
        return StandingStatus.ACTIVE
    return StandingStatus.SCREENING


def standing_of(*, project: Project, user: Any, screening_done: bool = False) -> Standing:
    """The annotator's standing (made on first use), judged when their screening is done."""
    standing = Standing.objects.filter(project=project, user=user).first()
    if standing is None:
        standing, _ = Standing.objects.get_or_create(
            project=project, user=user, defaults={"status": _first_status(project, user)}
        )
    if standing.status == StandingStatus.SCREENING and project.screening_threshold is None:
        standing.status = StandingStatus.ACTIVE  # the project stopped screening
        standing.save(update_fields=["status", "updated_at"])
    elif standing.status == StandingStatus.SCREENING and screening_done:
        _judge(project, standing)
    return standing


def refusal(standing: Standing) -> str | None:
    """Why the annotator gets no items, or None when they may work."""
    if standing.status == StandingStatus.PAUSED:
        return "An admin paused your work in this project; ask them about it."
    if standing.status == StandingStatus.FAILED:
        return (
            "Your screening score is below what this project needs, so no items are given to "
            "you; an admin can let you work."
        )
    return None


def _judge(project: Project, standing: Standing) -> None:
    score = gold_scores(project=project, kind=GoldKind.SCREENING, users=[standing.user_id]).get(
        standing.user_id
    )
    accuracy = score.step_accuracy if score is not None else None
    threshold = project.screening_threshold or 0.0
    standing.screening_accuracy = accuracy
    passed = accuracy is not None and accuracy >= threshold
    standing.status = StandingStatus.ACTIVE if passed else StandingStatus.FAILED
    standing.save(update_fields=["status", "screening_accuracy", "updated_at"])


@transaction.atomic
def standing_set(*, project: Project, user: Any, status: str, by: Any) -> Standing:
    """An admin pauses an annotator, or lets them work (also after a failed screening)."""
    if status not in ADMIN_STATUSES:
        raise WorkspaceError(f"status: set one of {', '.join(ADMIN_STATUSES)}.")
    standing, _ = Standing.objects.update_or_create(
        project=project, user=user, defaults={"status": status, "changed_by": by}
    )
    return standing
