"""Export speed: 1,000,000 graded steps (100,000 traces) as trl-stepwise and prm800k.

The data comes from the importer (a generated PRM800K-shaped file) into a database of its
own, created and dropped here. Each export runs in a fresh process so that its peak RSS is its
own. Baseline, in the same run: a naive export that loads model instances one by one
(trace, problem, each step, its node, its grade: the N+1 pattern) and feeds the same row
functions; it is timed on the first `naive_traces` traces and compared by rate.
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/export_speed.py
[traces] [naive_traces] [--keep]. Last line: one JSON object with the figures.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def child_import(traces: int) -> dict[str, float]:
    setup_django()
    from annotation.core.models import Project
    from annotation.datasets.importer import import_dataset

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        steps = write_prm800k_file(path, traces, problems=1000)
        project = Project.objects.create(name="bench")
        started = time.perf_counter()
        with path.open("rb") as stream:
            report = import_dataset(
                project=project, format_name="prm800k", stream=stream, grade_answers=False
            )
        seconds = time.perf_counter() - started
    assert report.traces_created == traces, report
    return {"steps": steps, "seconds": round(seconds, 1), "peak_mb": peak_mb()}


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
    from annotation.datasets.export.options import ExportOptions
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
            row = fmt.row(view, options)
            if row is not None:
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
            result = child_import(int(rest[0]))
        elif kind == "fast":
            result = child_fast(rest[0])
        else:
            result = child_naive(rest[0], int(rest[1]))
        print(json.dumps(result))
        return
    positional = [a for a in sys.argv[1:] if not a.startswith("--")]
    traces = int(positional[0]) if positional else 100_000
    naive_traces = int(positional[1]) if len(positional) > 1 else 2_000
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    env = {**os.environ, "DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + BENCH_DB}
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        imported = run_child(env, "import", str(traces))
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("ANALYZE")  # what autovacuum does soon after a bulk load
        figures: dict[str, object] = {
            "traces": traces,
            "steps": imported["steps"],
            "import_s": imported["seconds"],
        }
        speedups, peaks = [], []
        for format_name in FORMATS:
            fast = run_child(env, "fast", format_name)
            naive = run_child(env, "naive", format_name, str(naive_traces))
            speedup = round(fast["rows_per_s"] / naive["rows_per_s"], 1)
            figures[format_name] = {
                "rows": fast["rows"],
                "seconds": fast["seconds"],
                "rows_per_s": fast["rows_per_s"],
                "peak_mb": fast["peak_mb"],
                "naive_rows_per_s": naive["rows_per_s"],
                "naive_traces": naive_traces,
                "speedup": speedup,
            }
            speedups.append(speedup)
            peaks.append(fast["peak_mb"])
        figures["speedup"] = min(speedups)
        figures["peak_mb"] = max(peaks)
        figures["target"] = {"speedup": 10, "peak_mb": 300}
    finally:
        if "--keep" not in sys.argv:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
