"""Run an export: stream rows into one file per split and describe them in a manifest."""

import functools
import hashlib
import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from annotation.core.models import Project
from annotation.datasets.export.files import FileInfo, RowSink, open_sink
from annotation.datasets.export.formats import (
    EXPORT_FORMATS,
    LABELLED_ROWS,
    GroupFormat,
    ProblemFormat,
    Row,
    TraceFormat,
)
from annotation.datasets.export.left_out import LeftOut, Tally
from annotation.datasets.export.options import SCHEMA_VERSION, ExportOptions
from annotation.datasets.export.selection import (
    Splitter,
    count_traces,
    iter_trace_views,
    step_labels,
)
from annotation.problems.models import Problem, Trace
from annotation.problems.selectors import TraceView

MANIFEST_NAME = "manifest.json"
Progress = Callable[[int, int | None], None]  # (traces or problems read, total)


def export_to_directory(
    *,
    project: Project,
    options: ExportOptions,
    directory: Path,
    chunk_size: int = 1000,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Write `<format>-<split>.<ext>` files and manifest.json into `directory`; return the
    manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    splitter = Splitter(options)
    sinks: dict[str, RowSink] = {
        name: open_sink(directory, f"{options.format}-{name}", options.file_format, options.format)
        for name in splitter.names
    }
    counts: Counter[str] = Counter()
    left_out = Tally()
    try:
        for split, row in iter_rows(
            project,
            options,
            splitter,
            counts,
            chunk_size=chunk_size,
            on_progress=on_progress,
            left_out=left_out,
        ):
            sinks[split].write(row)
    finally:
        files = {name: sink.close() for name, sink in sinks.items()}
    manifest = build_manifest(project, options, files, counts, left_out)
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def iter_rows(
    project: Project,
    options: ExportOptions,
    splitter: Splitter,
    counts: Counter[str],
    *,
    chunk_size: int = 1000,
    on_progress: Progress | None = None,
    left_out: Tally | None = None,
) -> Iterator[tuple[str, Row]]:
    """(split, row) pairs of the export, with what was read and skipped tallied in `counts`
    and why things were left out in `left_out`."""
    fmt = EXPORT_FORMATS[options.format]
    left_out = left_out if left_out is not None else Tally()
    if isinstance(fmt, ProblemFormat):
        rows = _problem_rows(project, fmt, chunk_size, counts, on_progress)
    else:
        _origins_not_read(project, options, left_out)
        views = _views(project, options, chunk_size, counts, on_progress)
        rows = (
            _trace_rows(views, fmt, options, counts, left_out)
            if isinstance(fmt, TraceFormat)
            else _group_rows(views, fmt, options)
        )
    kept = _Deduper() if options.dedupe else None
    last_problem: dict[str, int] = {}
    for problem, row in rows:
        if kept is not None and not kept.first(problem.pk, row):
            counts["duplicates_removed"] += 1
            left_out.add("duplicate", f"problem {problem.external_id}")
            continue
        split = splitter.split_of(problem)
        if splitter.is_held_out(problem):
            counts["held_out_rows"] += 1
            left_out.add("held_out", f"problem {problem.external_id}")
        counts[f"rows:{split}"] += 1
        if last_problem.get(split) != problem.pk:
            counts[f"problems:{split}"] += 1
            last_problem[split] = problem.pk
        yield split, row


def _views(
    project: Project,
    options: ExportOptions,
    chunk_size: int,
    counts: Counter[str],
    on_progress: Progress | None,
) -> Iterator[TraceView]:
    total = count_traces(project, options) if on_progress else None
    for chunk in iter_trace_views(project, options, chunk_size=chunk_size):
        yield from chunk
        # a trace comes once per source that graded in it: count traces, not views
        counts["traces_read"] += len({view.trace.pk for view in chunk})
        if on_progress:
            on_progress(counts["traces_read"], total)


def _trace_rows(
    views: Iterator[TraceView],
    fmt: TraceFormat,
    options: ExportOptions,
    counts: Counter[str],
    left_out: Tally,
) -> Iterator[tuple[Problem, Row]]:
    cuts = fmt.row in LABELLED_ROWS and options.resolved_after_error == "drop"
    for view in views:
        row = fmt.row(view, options)
        if row is None or isinstance(row, LeftOut):
            counts["traces_skipped"] += 1
            left_out.add(row.reason if row else "not_exportable", f"trace {view.trace.pk}")
            continue
        if cuts and len(step_labels(view, options) or ()) < len(view.path):
            left_out.add("after_error", f"trace {view.trace.pk}")
        yield view.trace.problem, row


def _origins_not_read(project: Project, options: ExportOptions, left_out: Tally) -> None:
    """Tally the project's traces of origins the export does not read, per origin."""
    origins = options.resolved_origins
    if origins is None:
        return
    skipped = (
        Trace.objects.filter(problem__project=project)
        .exclude(origin__in=origins)
        .values_list("origin")
        .annotate(n=Count("id"))
        .order_by("origin")
    )
    for origin, n in skipped:
        left_out.add("origin", f"{n} {origin}", count=n)


def _group_rows(
    views: Iterator[TraceView], fmt: GroupFormat, options: ExportOptions
) -> Iterator[tuple[Problem, Row]]:
    """Rows from each problem's traces; traces come ordered by problem, so only the current
    problem's traces are held."""
    group: list[TraceView] = []
    for view in views:
        if group and group[0].trace.problem_id != view.trace.problem_id:
            yield from (
                (group[0].trace.problem, row)
                for row in fmt.rows(group[0].trace.problem, group, options)
            )
            group = []
        group.append(view)
    if group:
        yield from (
            (group[0].trace.problem, row)
            for row in fmt.rows(group[0].trace.problem, group, options)
        )


def _problem_rows(
    project: Project,
    fmt: ProblemFormat,
    chunk_size: int,
    counts: Counter[str],
    on_progress: Progress | None,
) -> Iterator[tuple[Problem, Row]]:
    problems = Problem.objects.filter(project=project)
    total = problems.count() if on_progress else None
    last_id = 0
    while chunk := list(problems.filter(pk__gt=last_id).order_by("pk")[:chunk_size]):
        for problem in chunk:
            yield problem, fmt.row(problem)
        counts["problems_read"] += len(chunk)
        if on_progress:
            on_progress(counts["problems_read"], total)
        last_id = chunk[-1].pk


class _Deduper:
    """Remembers the digests of the current problem's rows (a prompt holds the problem text,
    so equal rows of different problems cannot occur)."""

    def __init__(self) -> None:
        self.problem_id: int | None = None
        self.seen: set[bytes] = set()

    def first(self, problem_id: int, row: Row) -> bool:
        if problem_id != self.problem_id:
            self.problem_id, self.seen = problem_id, set()
        digest = hashlib.blake2b(
            json.dumps(row, sort_keys=True, ensure_ascii=False).encode(), digest_size=16
        ).digest()
        if digest in self.seen:
            return False
        self.seen.add(digest)
        return True


def build_manifest(
    project: Project,
    options: ExportOptions,
    files: dict[str, FileInfo],
    counts: Counter[str],
    left_out: Tally | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "code_version": code_version(),
        "created_at": timezone.now().isoformat(),
        "project": {"id": project.pk, "name": project.name},
        "format": options.format,
        "file_format": options.file_format,
        "options": options.as_dict(),
        "splits": {
            name: {**asdict(info), "problems": counts[f"problems:{name}"]}
            for name, info in files.items()
        },
        "counts": {
            "rows": sum(info.rows for info in files.values()),
            "traces_read": counts["traces_read"],
            "problems_read": counts["problems_read"],
            "traces_skipped": counts["traces_skipped"],
            "duplicates_removed": counts["duplicates_removed"],
            "held_out_rows": counts["held_out_rows"],
        },
        # what was left out and why: {reason: {count, why, examples}} (left_out.py)
        "left_out": (left_out or Tally()).as_manifest(),
    }


@functools.cache
def code_version() -> str:
    """STEPWISE_CODE_VERSION if set (deployments), else the git commit of the checkout."""
    if version := os.environ.get("STEPWISE_CODE_VERSION"):
        return version
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip()
