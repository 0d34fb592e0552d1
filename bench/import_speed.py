"""Import speed: PRM800K-shaped files of growing size into PostgreSQL.

Reports steps per second and the peak memory of the import at two sizes, so that memory
can be seen not to grow with the file. Baseline: the same importer on a 10x smaller file
in the same run. Usage: DATABASE_URL=postgres://... python bench/import_speed.py [traces]
Last line: one JSON object with the figures.
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

BENCH_DB = "stepwise_bench_import"


def reset_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return admin_url.rsplit("/", 1)[0] + "/" + BENCH_DB


def run_one(traces: int, label: str) -> dict[str, float]:
    """Import one generated file in this process; peak RSS is this process's."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import django

    django.setup()
    from annotation.core.models import Project
    from annotation.datasets.importer import import_dataset

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{label}.jsonl"
        steps = write_prm800k_file(path, traces, problems=100, seed=len(label))
        project = Project.objects.create(name=f"bench {label}")
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        with path.open("rb") as stream:
            report = import_dataset(project=project, format_name="prm800k", stream=stream)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert report.traces_created == traces, report
        return {
            "traces": traces,
            "steps": steps,
            "seconds": round(elapsed, 2),
            "steps_per_s": round(steps / elapsed),
            "peak_mb": round(peak, 1),
            "growth_mb": round(peak - baseline, 1),
            "file_mb": round(path.stat().st_size / 2**20, 1),
        }


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(run_one(int(sys.argv[2]), sys.argv[3])))
        return
    traces = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    env = {**os.environ, "DATABASE_URL": reset_database(admin_url)}
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    results = {}
    for label, n in [("small", traces // 10), ("large", traces)]:
        # Each size in a fresh process, so that peak memory is that import's alone.
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), label],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[label] = json.loads(out.strip().splitlines()[-1])
        print(f"{label}: {results[label]}", flush=True)
    small, large = results["small"], results["large"]
    print(
        json.dumps(
            {
                "steps_per_s": large["steps_per_s"],
                "peak_mb": large["peak_mb"],
                "traces": large["traces"],
                "steps": large["steps"],
                "seconds": large["seconds"],
                "small_steps_per_s": small["steps_per_s"],
                "small_peak_mb": small["peak_mb"],
                "rate_ratio_large_vs_small": round(large["steps_per_s"] / small["steps_per_s"], 2),
                "memory_ratio_large_vs_small": round(large["peak_mb"] / small["peak_mb"], 2),
                "target_steps_per_s": 50_000,
            }
        )
    )


if __name__ == "__main__":
    main()
