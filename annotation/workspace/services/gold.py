"""Gold items: screening and quality-control traces whose reference grades measure annotators.

The reference is a grade source's current grades on the trace: a named source (an imported
dataset's labeler, a trusted annotator), or by default the one imported dataset that graded
the trace (a PRM800K row's labeler).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from annotation.core.models import Project
from annotation.grading.models import GradeSource, SourceKind
from annotation.grading.selectors import current_grades
from annotation.problems.models import Trace
from annotation.workspace.models import GoldItem, GoldKind
from annotation.workspace.services.claims import NEVER_QUEUED_ORIGINS
from annotation.workspace.services.errors import WorkspaceError

MAX_GOLD_PER_REQUEST = 10_000


@transaction.atomic
def gold_mark(
    *, trace: Trace, source: GradeSource, kind: str = GoldKind.QC, by: Any = None
) -> GoldItem:
    """Makes a trace a gold item of `kind` whose reference is `source`'s current grades."""
    if kind not in GoldKind.values:
        raise WorkspaceError(f"kind: use one of {', '.join(GoldKind.values)}.")
    if trace.origin in NEVER_QUEUED_ORIGINS:
        raise WorkspaceError(
            f"trace {trace.pk}: a {trace.origin} trace is never graded as an item."
        )
    if not current_grades().filter(trace=trace, source=source, rating__isnull=False).exists():
        raise WorkspaceError(
            f"trace {trace.pk}: {source.name} has no ratings on it to use as gold."
        )
    gold, _ = GoldItem.objects.update_or_create(
        trace=trace, defaults={"source": source, "kind": kind, "created_by": by}
    )
    return gold


def reference_source(trace: Trace, name: str | None) -> GradeSource:
    """The source named, or the one imported dataset that rated the trace."""
    rated = current_grades().filter(trace=trace, rating__isnull=False)
    if name:
        source = GradeSource.objects.filter(name=name).first()
        if source is None:
            raise WorkspaceError(f"source: no grade source is named {name!r}.")
        return source
    datasets = list(
        GradeSource.objects.filter(
            kind=SourceKind.DATASET, pk__in=rated.values("source_id")
        ).order_by("name")
    )
    if len(datasets) != 1:
        found = ", ".join(s.name for s in datasets) or "none"
        raise WorkspaceError(
            f"trace {trace.pk}: name the source of its gold grades (imported labels: {found})."
        )
    return datasets[0]


@transaction.atomic
def gold_mark_many(
    *,
    project: Project,
    trace_ids: Sequence[int],
    kind: str,
    source_name: str | None = None,
    by: Any = None,
) -> list[GoldItem]:
    """Marks the project's traces `trace_ids` as gold of `kind`: all or none (a trace that
    cannot be gold is named in the error)."""
    if not trace_ids:
        raise WorkspaceError("trace_ids: give at least one trace id.")
    if len(trace_ids) > MAX_GOLD_PER_REQUEST:
        raise WorkspaceError(f"trace_ids: at most {MAX_GOLD_PER_REQUEST} at a time.")
    traces = Trace.objects.filter(problem__project=project).in_bulk(list(trace_ids))
    missing = [pk for pk in trace_ids if pk not in traces]
    if missing:
        raise WorkspaceError(f"trace_ids: {missing[0]} is not a trace of project {project.name}.")
    return [
        gold_mark(
            trace=traces[pk], source=reference_source(traces[pk], source_name), kind=kind, by=by
        )
        for pk in dict.fromkeys(trace_ids)
    ]


@transaction.atomic
def gold_unmark(*, project: Project, trace_ids: Sequence[int]) -> int:
    """The traces are no longer gold items (the annotators' work on them stays)."""
    deleted, _ = GoldItem.objects.filter(
        trace__problem__project=project, trace_id__in=list(trace_ids)
    ).delete()
    return deleted
