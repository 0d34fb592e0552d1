"""Dataset exports: stream rows out of the database in keyset-ordered chunks."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from annotation.core.models import Project
from annotation.datasets.formats import gsm8k, math, math_shepherd, prm800k, processbench
from annotation.datasets.views import TraceView, load_trace_views
from annotation.problems.models import Problem, Trace


@dataclass(frozen=True)
class TraceFormat:
    export_row: Callable[[TraceView], dict[str, Any]]


@dataclass(frozen=True)
class ProblemFormat:
    export_row: Callable[[Problem], dict[str, Any]]


EXPORT_FORMATS: dict[str, TraceFormat | ProblemFormat] = {
    prm800k.NAME: TraceFormat(prm800k.export_row),
    processbench.NAME: TraceFormat(processbench.export_row),
    math_shepherd.NAME: TraceFormat(math_shepherd.export_row),
    math.NAME: ProblemFormat(math.export_row),
    gsm8k.NAME: ProblemFormat(gsm8k.export_row),
}


def export_dataset(
    *,
    project: Project,
    format_name: str,
    out: IO[str],
    chunk_size: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write one JSON line per row; returns the number of rows."""
    if format_name not in EXPORT_FORMATS:
        raise ValueError(
            f"unknown format {format_name!r}; choose one of {', '.join(sorted(EXPORT_FORMATS))}"
        )
    fmt = EXPORT_FORMATS[format_name]
    rows = (
        _trace_rows(project, fmt.export_row, chunk_size)
        if isinstance(fmt, TraceFormat)
        else _problem_rows(project, fmt.export_row, chunk_size)
    )
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n")
        count += 1
        if on_progress and count % chunk_size == 0:
            on_progress(count)
    return count


def _trace_rows(
    project: Project, export_row: Callable[[TraceView], dict[str, Any]], chunk_size: int
) -> Iterator[dict[str, Any]]:
    last_id = 0
    while True:
        traces = list(
            Trace.objects.filter(problem__project=project, pk__gt=last_id)
            .select_related("problem")
            .order_by("pk")[:chunk_size]
        )
        if not traces:
            return
        for view in load_trace_views(traces):
            yield export_row(view)
        last_id = traces[-1].pk


def _problem_rows(
    project: Project, export_row: Callable[[Problem], dict[str, Any]], chunk_size: int
) -> Iterator[dict[str, Any]]:
    last_id = 0
    while True:
        problems = list(
            Problem.objects.filter(project=project, pk__gt=last_id).order_by("pk")[:chunk_size]
        )
        if not problems:
            return
        for problem in problems:
            yield export_row(problem)
        last_id = problems[-1].pk
