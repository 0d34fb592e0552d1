"""The life of a claim after work began: each submit, return and review decision."""

from __future__ import annotations

from typing import Any

from annotation.problems.models import Trace
from annotation.workspace.models import Assignment, AssignmentEvent


def event_add(
    assignment: Assignment,
    kind: str,
    *,
    actor: Any,
    version: int,
    comment: str = "",
    record: Trace | None = None,
) -> AssignmentEvent:
    return AssignmentEvent.objects.create(
        assignment=assignment,
        kind=kind,
        actor=actor,
        version=version,
        comment=comment,
        record=record,
    )
