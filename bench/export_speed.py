"""Export speed: 1,000,000 graded steps (100,000 traces) as trl-stepwise and prm800k.

The data comes from the importer (a generated PRM800K-shaped file) into a database of its
own, created and dropped here: first `--small` traces (default 10,000), measured, then the
rest, measured again, so that the peak memory of both sizes can be compared (it should be
flat: exports stream). Each export runs in a fresh process so that its peak RSS is its own.

Two references in the same run:
- the floor: `COPY (the same join: trace, problem text, each path step's text and its
  grade's rating, in the export's order) TO STDOUT`, read and dropped by the client: what
  PostgreSQL alone takes to hand over the raw fields. `floor_fraction` is floor seconds /
  export seconds (1.0: the export costs no more than reading its fields).
- a naive export that loads model instances one by one (trace, problem, each step, its node,
  its grade: the N+1 pattern) and feeds the same row functions; it is timed on the first
  `naive_traces` traces and compared by rate (`speedup`).
- the export's own chunk statements alone, rows read and dropped (`reads_s`): the database's
  share of the export, which runs beside the Python share (the next chunk is read while one
  is written), so `reads_fraction` (reads_s / export seconds) near 1.0 says the export waits
  on its statements, well below 1.0 that Python's share bounds it.
`steps_per_s` is the steps read (10 per trace) per second of export.
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/export_speed.py
[traces] [naive_traces] [--small=N] [--keep]. Last line: one JSON object with the figures.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from prm800k_data import write_prm800k_file

BENCH_DB = "stepwise_bench_export"
ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("trl-stepwise", "prm800k")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child_import(traces: int, seed: int) -> dict[str, float]:
    setup_django()
    from annotation.core.models import Project
    from annotation.datasets.importer import import_dataset

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        steps = write_prm800k_file(path, traces, problems=1000, seed=seed)
        project, _ = Project.objects.get_or_create(name="bench")
        started = time.perf_counter()
        with path.open("rb") as stream:
            report = import_dataset(
                project=project, format_name="prm800k", stream=stream, grade_answers=False
            )
        seconds = time.perf_counter() - started
    assert report.traces_created == traces, report
    return {"steps": steps, "seconds": round(seconds, 1), "peak_mb": peak_mb()}


def child_floor() -> dict[str, float]:
    """COPY of the raw fields the exports read, in their order, read and dropped."""
    setup_django()
    from django.db import connection

    from annotation.grading.models import Grade
    from annotation.problems.models import Problem, StepNode, Trace, TraceStep

    def col(model: Any, field: str, alias: str) -> str:
        return f"{alias}.{connection.ops.quote_name(model._meta.get_field(field).column)}"

    trace, problem, step, node, grade = (
        Trace._meta.db_table,
        Problem._meta.db_table,
        TraceStep._meta.db_table,
        StepNode._meta.db_table,
        Grade._meta.db_table,
    )
    trace_id, step_node = col(Trace, "id", "t"), col(TraceStep, "node", "s")
    sql = (
        f"COPY (SELECT {trace_id}, {col(Problem, 'text', 'p')}, "
        f"{col(StepNode, 'text', 'n')}, {col(Grade, 'rating', 'g')} FROM {trace} t "
        f"JOIN {problem} p ON {col(Problem, 'id', 'p')} = {col(Trace, 'problem', 't')} "
        f"JOIN {step} s ON {col(TraceStep, 'trace', 's')} = {trace_id} "
        f"AND {col(TraceStep, 'on_path', 's')} "
        f"JOIN {node} n ON {col(StepNode, 'id', 'n')} = {step_node} "
        f"LEFT JOIN {grade} g ON {col(Grade, 'trace', 'g')} = {trace_id} "
        f"AND {col(Grade, 'node', 'g')} = {step_node} AND {col(Grade, 'is_current', 'g')} "
        f"ORDER BY {col(Trace, 'problem', 't')}, {trace_id}, "
        f"{col(TraceStep, 'position', 's')}) TO STDOUT"
    )
    size = 0
    with connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.cursor.copy(sql) as copy:
            for block in copy:
                size += len(block)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "mb": round(size / 2**20, 1), "peak_mb": peak_mb()}


def child_reads(format_name: str) -> dict[str, float]:
    """The export's own chunk statements alone, their rows read and dropped: the database's
    share of the export (the export takes about the longer of this and its Python share)."""
    setup_django()
    from annotation.core.models import Project
    from annotation.datasets.export.options import ExportOptions
    from annotation.datasets.export.selection import (
        aggregated_chunk_rows,
        grade_choice,
        scoped_traces,
    )

    project = Project.objects.get(name="bench")
    options = ExportOptions(format=format_name)
    traces = scoped_traces(project, options).order_by("problem_id", "pk")
    started = time.perf_counter()
    read = sum(
        len(chunk.rows) for chunk in aggregated_chunk_rows(traces, grade_choice(project, options))
    )
    return {"traces": read, "seconds": round(time.perf_counter() - started, 2)}


def child_fast(format_name: str) -> dict[str, float]:
    setup_django()
    from annotation.core.models import Project
    from annotation.datasets.export.options import ExportOptions
    from annotation.datasets.export.pipeline import export_to_directory

    project = Project.objects.get(name="bench")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        manifest = export_to_directory(
            project=project, options=ExportOptions(format=format_name), directory=Path(tmp)
        )
        seconds = time.perf_counter() - started
    rows = manifest["counts"]["rows"]
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_mb": peak_mb(),
    }


def child_naive(format_name: str, limit: int) -> dict[str, float]:
    """One instance at a time: what a first version of an export usually looks like."""
    setup_django()
    from annotation.core.models import Project
    from annotation.datasets.export.formats import EXPORT_FORMATS, TraceFormat
    from annotation.datasets.export.left_out import Skip
    from annotation.datasets.export.options import ExportOptions
    from annotation.datasets.export.step_label_formats import Rows
    from annotation.grading.models import Grade
    from annotation.grading.selectors import GradeView
    from annotation.problems.models import Trace
    from annotation.problems.selectors import StepView, TraceView

    options = ExportOptions(format=format_name)
    fmt = EXPORT_FORMATS[format_name]
    assert isinstance(fmt, TraceFormat)
    project = Project.objects.get(name="bench")
    rows = 0
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "naive.jsonl").open("w") as out:
        started = time.perf_counter()
        for trace in Trace.objects.filter(problem__project=project).order_by("pk")[:limit]:
            trace.problem  # noqa: B018 (one query per trace)
            view = TraceView(trace=trace)
            for step in trace.steps.order_by("position", "option"):
                node = step.node  # one query per step
                grade = (
                    Grade.objects.filter(trace=trace, node=node).select_related("source").first()
                )
                view.steps.append(
                    StepView(
                        step.position,
                        step.option,
                        step.on_path,
                        node.text,
                        node.kind,
                        step.extra,
                        GradeView(grade.rating, grade.score, grade.flagged, grade.source.name)
                        if grade
                        else None,
                    )
                )
            made = fmt.row(view, options)
            for row in made.rows if isinstance(made, Rows) else [made]:
                if not isinstance(row, Skip):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    rows += 1
        seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_mb": peak_mb(),
    }


def run_child(env: dict[str, str], *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    print(f"{' '.join(args)}: {result}", flush=True)
    return result


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        kind, *rest = sys.argv[2:]
        if kind == "import":
            result = child_import(int(rest[0]), int(rest[1]))
        elif kind == "floor":
            result = child_floor()
        elif kind == "fast":
            result = child_fast(rest[0])
        elif kind == "reads":
            result = child_reads(rest[0])
        else:
            result = child_naive(rest[0], int(rest[1]))
        print(json.dumps(result))
        return
    positional = [a for a in sys.argv[1:] if not a.startswith("--")]
    traces = int(positional[0]) if positional else 100_000
    naive_traces = int(positional[1]) if len(positional) > 1 else 2_000
    small = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--small=")), 10_000)
    sizes = [size for size in (small, traces) if 0 < size < traces] + [traces]
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    env = {**os.environ, "DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + BENCH_DB}
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        figures: dict[str, Any] = {"traces": traces, "steps": 0, "import_s": 0.0}
        imported_traces = 0
        by_size: dict[int, dict[str, Any]] = {}
        for seed, size in enumerate(sizes):
            imported = run_child(env, "import", str(size - imported_traces), str(seed))
            imported_traces = size
            figures["steps"] += imported["steps"]
            figures["import_s"] = round(figures["import_s"] + imported["seconds"], 1)
            with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
                conn.execute("ANALYZE")  # what autovacuum does soon after a bulk load
            by_size[size] = measure_size(env, figures["steps"])
        figures["floor"] = {str(size): by_size[size]["floor"] for size in sizes}
        speedups, peaks = [], []
        for format_name in FORMATS:
            fast = by_size[traces][format_name]
            naive = run_child(env, "naive", format_name, str(naive_traces))
            speedup = round(fast["rows_per_s"] / naive["rows_per_s"], 1)
            figures[format_name] = {
                **fast,
                "naive_rows_per_s": naive["rows_per_s"],
                "naive_traces": naive_traces,
                "speedup": speedup,
                "by_traces": {
                    str(size): {
                        key: by_size[size][format_name][key]
                        for key in (
                            "seconds",
                            "steps_per_s",
                            "floor_fraction",
                            "reads_s",
                            "reads_fraction",
                            "peak_mb",
                        )
                    }
                    for size in sizes
                },
            }
            speedups.append(speedup)
            peaks.append(fast["peak_mb"])
        figures["speedup"] = min(speedups)
        figures["peak_mb"] = max(peaks)
        figures["peak_mb_by_traces"] = {
            str(size): max(by_size[size][name]["peak_mb"] for name in FORMATS) for size in sizes
        }
        figures["steps_per_s"] = {name: figures[name]["steps_per_s"] for name in FORMATS}
        figures["floor_fraction"] = {name: figures[name]["floor_fraction"] for name in FORMATS}
        figures["target"] = {
            "speedup": 10,
            "peak_mb": 300,
            "steps_per_s": 40_000,
            "floor_fraction": 0.5,
        }
    finally:
        if "--keep" not in sys.argv:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    print(json.dumps(figures))


def measure_size(env: dict[str, str], steps: int) -> dict[str, Any]:
    """The floor and each format's export over what is imported so far."""
    floor = run_child(env, "floor")
    measured: dict[str, Any] = {"floor": floor}
    for format_name in FORMATS:
        fast = run_child(env, "fast", format_name)
        reads = run_child(env, "reads", format_name)
        measured[format_name] = {
            **fast,
            "steps_per_s": round(steps / fast["seconds"]),
            "floor_fraction": round(floor["seconds"] / fast["seconds"], 2),
            "reads_s": reads["seconds"],
            "reads_fraction": round(reads["seconds"] / fast["seconds"], 2),
        }
    return measured


if __name__ == "__main__":
    main()
