"""Run an export: stream rows into one file per split and describe them in a manifest."""

import functools
import hashlib
import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from itertools import groupby
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from annotation.core.models import Project
from annotation.datasets.export.files import FileInfo, RowSink, open_sink
from annotation.datasets.export.formats import (
    EXPORT_FORMATS,
    GroupFormat,
    PairedFormat,
    ProblemFormat,
    Row,
    TraceFormat,
)
from annotation.datasets.export.left_out import Skip, Tally
from annotation.datasets.export.options import SCHEMA_VERSION, ExportOptionError, ExportOptions
from annotation.datasets.export.readme import README_NAME, export_readme
from annotation.datasets.export.selection import (
    Splitter,
    count_traces,
    iter_trace_views,
    scoped_traces,
)
from annotation.datasets.export.step_label_formats import Rows
from annotation.problems.models import Origin, Problem
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
    manifest. A paired format writes the files of both its formats. An export with no rows
    raises EmptyExport, naming why, and leaves no manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    splitter = Splitter(options)
    fmt = EXPORT_FORMATS[options.format]
    formats = [fmt.first, fmt.second] if isinstance(fmt, PairedFormat) else [options.format]
    sinks: dict[tuple[str, str], RowSink] = {
        (name, split): open_sink(
            directory,
            f"{name}-{split}",
            options.file_format,
            f"{name}:soft" if options.soft_labels else name,
        )
        for name in formats
        for split in splitter.names
    }
    counts: Counter[str] = Counter()
    left_out = Tally()
    try:
        if isinstance(fmt, PairedFormat):
            for split, name, row in iter_paired_rows(
                project, options, fmt, splitter, counts, left_out, chunk_size, on_progress
            ):
                sinks[(name, split)].write(row)
        else:
            for split, row in iter_rows(
                project,
                options,
                splitter,
                counts,
                chunk_size=chunk_size,
                on_progress=on_progress,
                left_out=left_out,
            ):
                sinks[(options.format, split)].write(row)
    finally:
        files = {key: sink.close() for key, sink in sinks.items()}
    if not any(info.rows for info in files.values()):
        for info in files.values():
            (directory / info.name).unlink(missing_ok=True)
        raise EmptyExport(empty_reason(options, counts, left_out))
    omitted = _omit_empty_splits(directory, files, splitter, options)
    manifest = build_manifest(
        project,
        options,
        {split: info for (name, split), info in files.items() if name == formats[-1]},
        counts,
        left_out,
    )
    if omitted:
        manifest["omitted_splits"] = omitted
    if isinstance(fmt, PairedFormat):
        manifest["paired"] = {
            "format": fmt.first,
            "splits": {
                split: {**asdict(info), "problems": counts[f"problems:{split}"]}
                for (name, split), info in files.items()
                if name == fmt.first
            },
        }
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    (directory / README_NAME).write_text(export_readme(manifest))
    return manifest


def _omit_empty_splits(
    directory: Path,
    files: dict[tuple[str, str], FileInfo],
    splitter: Splitter,
    options: ExportOptions,
) -> dict[str, str]:
    """Removes the file of each split no row went to (a file of no rows is no dataset:
    `datasets.load_dataset` fails on it) and says why it is absent: {split: why}."""
    omitted: dict[str, str] = {}
    for (name, split), info in list(files.items()):
        if info.rows:
            continue
        (directory / info.name).unlink(missing_ok=True)
        del files[(name, split)]
        omitted[split] = (
            f"no row fell in the {split} split (test_fraction {options.test_fraction}, "
            f"{len(options.held_out)} held-out entries, seed {options.seed}): its file is "
            "not written"
        )
    return omitted


class EmptyExport(ExportOptionError):
    """The options select no row; the message says what was read and why nothing was kept."""


def empty_reason(options: ExportOptions, counts: Counter[str], left_out: Tally) -> str:
    fmt = EXPORT_FORMATS[options.format]
    if isinstance(fmt, ProblemFormat):
        return "the export has no rows: the project has no problems"
    scope = [f"origins {', '.join(options.resolved_origins or ('any',))}"]
    if options.jobs:
        scope.append(f"jobs {', '.join(map(str, options.jobs))}")
    if options.tree_round is not None:
        scope.append(f"tree round {options.tree_round}")
    if options.kinds:
        scope.append(f"kinds {', '.join(options.kinds)}")
    if not counts["traces_read"]:
        return f"the export has no rows: no trace matches {'; '.join(scope)}"
    reasons = ", ".join(
        f"{entry['count']} {reason}" for reason, entry in left_out.as_manifest().items()
    )
    return (
        f"the export has no rows: {counts['traces_read']} traces read ({'; '.join(scope)}), "
        f"none usable; {options.format} needs {fmt.needs}"
        + (f"; left out: {reasons}" if reasons else "")
    )


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
    """(split, row) pairs of the export, with what was read tallied in `counts` and what was
    left out, and why, in `left_out`."""
    fmt = EXPORT_FORMATS[options.format]
    left_out = left_out if left_out is not None else Tally()
    if isinstance(fmt, PairedFormat):
        raise ExportOptionError(
            f"format: {options.format} writes two files; export it into a directory"
        )
    if isinstance(fmt, ProblemFormat):
        rows = _problem_rows(project, fmt, chunk_size, counts, on_progress)
    else:
        _origins_not_read(project, options, options.resolved_origins, left_out)
        views = _views(project, options, chunk_size, counts, on_progress)
        rows = (
            _trace_rows(views, fmt, options, counts, left_out)
            if isinstance(fmt, TraceFormat)
            else _group_rows(views, fmt, options, counts, left_out)
        )
    kept = _Deduper() if options.dedupe else None
    last_problem: dict[str, int] = {}
    one_each = options.one_per_problem and options.format == "sft-shortcut"
    taken: int | None = None  # the problem whose one solution is written
    for problem, row in rows:
        if one_each:
            if taken == problem.pk:
                left_out.add("another_solution", f"problem {problem.external_id}")
                continue
            taken = problem.pk
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
    origins: tuple[str, ...] | None = None,
) -> Iterator[TraceView]:
    total = count_traces(project, options) if on_progress else None
    last_problem = None
    for chunk in iter_trace_views(project, options, chunk_size=chunk_size, origins=origins):
        yield from chunk
        # a trace comes once per source that graded in it: count traces, not views
        counts["traces_read"] += len({view.trace.pk for view in chunk})
        # views come in problem order: a problem starts where its id changes
        for view in chunk:
            if view.trace.problem_id != last_problem:
                counts["problems_read"] += 1
                last_problem = view.trace.problem_id
        if on_progress:
            on_progress(counts["traces_read"], total)


def _trace_rows(
    views: Iterator[TraceView],
    fmt: TraceFormat,
    options: ExportOptions,
    counts: Counter[str],
    left_out: Tally,
) -> Iterator[tuple[Problem, Row]]:
    for view, row in _view_rows(views, fmt, options, counts, left_out):
        yield view.trace.problem, row


def _view_rows(
    views: Iterator[TraceView],
    fmt: TraceFormat,
    options: ExportOptions,
    counts: Counter[str],
    left_out: Tally,
) -> Iterator[tuple[TraceView, Row]]:
    for view in views:
        row = fmt.row(view, options)
        if isinstance(row, Skip):
            counts["traces_skipped"] += 1
            left_out.add(row.reason, f"trace {view.trace.pk}")
            continue
        if not isinstance(row, Rows):
            yield view, row
            continue
        for reason in row.partly:  # what of the record the rows do not carry
            left_out.add(reason, f"trace {view.trace.pk}")
        for one in row.rows:
            yield view, one


def _origins_not_read(
    project: Project, options: ExportOptions, origins: tuple[str, ...] | None, left_out: Tally
) -> None:
    """Tally, per origin, the traces the export's scope (jobs, tree round, kinds, review) takes
    but whose origin it does not read."""
    if origins is None:
        return
    not_read = (
        scoped_traces(project, options, origins=tuple(Origin.values))
        .exclude(origin__in=origins)
        .values_list("origin")
        .annotate(n=Count("id"))
        .order_by("origin")
    )
    for origin, n in not_read:
        left_out.add("origin", f"{n} {origin}", count=n)


def _group_rows(
    views: Iterator[TraceView],
    fmt: GroupFormat,
    options: ExportOptions,
    counts: Counter[str],
    left_out: Tally,
) -> Iterator[tuple[Problem, Row]]:
    """Rows from each problem's traces; traces come ordered by problem, so only the current
    problem's traces are held."""
    for _, group in groupby(views, key=lambda view: view.trace.problem_id):
        views_of_problem = list(group)
        problem = views_of_problem[0].trace.problem
        yield from (
            (problem, row) for row in fmt.rows(problem, views_of_problem, options, counts, left_out)
        )


# Paired exports ------------------------------------------------------------------------------

PairKey = tuple[object, object] | None


def iter_paired_rows(
    project: Project,
    options: ExportOptions,
    fmt: PairedFormat,
    splitter: Splitter,
    counts: Counter[str],
    left_out: Tally,
    chunk_size: int,
    on_progress: Progress | None,
) -> Iterator[tuple[str, str, Row]]:
    """(split, format name, row) of both formats, for the problems both have rows for: as many
    rows of each as both have. Problems one side lacks are tallied in ``left_out``."""
    first_format, second_format = EXPORT_FORMATS[fmt.first], EXPORT_FORMATS[fmt.second]
    assert isinstance(first_format, TraceFormat) and isinstance(second_format, TraceFormat)
    if first_format.origins is not None and options.resolved_origins is not None:
        read = (*first_format.origins, *options.resolved_origins)
        _origins_not_read(project, options, read, left_out)
    first_views = _views(
        project,
        replace(options, kinds=()),
        chunk_size,
        counts,
        on_progress,
        origins=first_format.origins,
    )
    second_views = _views(project, options, chunk_size, counts, on_progress)
    first = _problem_groups(_view_rows(first_views, first_format, options, counts, left_out))
    second = _problem_groups(_view_rows(second_views, second_format, options, counts, left_out))
    a, b = next(first, None), next(second, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0].pk < b[0].pk):
            assert a is not None
            left_out.add(f"problem_without_{fmt.second}", f"problem {a[0].external_id}")
            a = next(first, None)
            continue
        if a is None or b[0].pk < a[0].pk:
            left_out.add(f"problem_without_{fmt.first}", f"problem {b[0].external_id}")
            b = next(second, None)
            continue
        problem = a[0]
        pairs = _matched(a[1], b[1])
        if unpaired := len(a[1]) + len(b[1]) - 2 * len(pairs):
            left_out.add("unpaired_row", f"problem {problem.external_id}", count=unpaired)
        if options.one_per_problem and len(pairs) > 1:
            left_out.add("another_solution", f"problem {problem.external_id}", count=len(pairs) - 1)
            pairs = pairs[:1]
        if pairs:
            split = splitter.split_of(problem)
            counts[f"problems:{split}"] += 1
            counts[f"rows:{split}"] += len(pairs)
            for first_row, second_row in pairs:
                yield split, fmt.first, first_row
                yield split, fmt.second, second_row
        a, b = next(first, None), next(second, None)


def _problem_groups(
    rows: Iterator[tuple[TraceView, Row]],
) -> Iterator[tuple[Problem, list[tuple[PairKey, Row]]]]:
    for _, group in groupby(rows, key=lambda item: item[0].trace.problem_id):
        items = list(group)
        yield items[0][0].trace.problem, [(_pair_key(view), row) for view, row in items]


def _pair_key(view: TraceView) -> PairKey:
    """A long-thought job's shortcut, draft and rewrite of one correct path share a key: the
    job that wrote them, and the path's tree and leaf (two jobs over one tree are two keys)."""
    meta = view.trace.metadata or {}
    if "tree_job" in meta and "leaf" in meta:
        return (view.trace.job_id, (meta["tree_job"], meta["leaf"]))
    return None


def _matched(
    first: list[tuple[PairKey, Row]], second: list[tuple[PairKey, Row]]
) -> list[tuple[Row, Row]]:
    """One to one: a journey with a key takes the shortcut of its own key, one without takes
    the next shortcut without one (in order); no row is used twice."""
    keyed: dict[PairKey, list[Row]] = {}
    plain: list[Row] = []
    for key, row in first:
        (plain if key is None else keyed.setdefault(key, [])).append(row)
    pairs: list[tuple[Row, Row]] = []
    for key, row in second:
        partners = plain if key is None else keyed.get(key, [])
        if partners:
            pairs.append((partners.pop(0), row))
    return pairs


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
        **(
            {
                "pairs": {
                    "k": options.pairs_per_problem,
                    "problems_with_fewer": counts["problems_with_fewer_pairs"],
                }
            }
            if options.format == "dpo"
            else {}
        ),
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
