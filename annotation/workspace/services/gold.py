"""Gold items: traces whose reference grades measure annotators' accuracy."""

from __future__ import annotations

from django.db import transaction

from annotation.grading.models import GradeSource
from annotation.grading.selectors import current_grades
from annotation.problems.models import Trace
from annotation.workspace.models import GoldItem
from annotation.workspace.services.errors import WorkspaceError


@transaction.atomic
def gold_mark(*, trace: Trace, source: GradeSource) -> GoldItem:
    """Makes a trace a quality-control item whose reference is `source`'s current grades."""
    if not current_grades().filter(trace=trace, source=source).exists():
        raise WorkspaceError(f"{source.name} has no grades on trace {trace.pk} to use as gold.")
    gold, _ = GoldItem.objects.update_or_create(trace=trace, defaults={"source": source})
    return gold
