"""Import speed: PRM800K-shaped files of growing size into PostgreSQL.

Reports steps per second and the peak memory of the import at two sizes, so that memory
can be seen not to grow with the file. Baseline: the same importer on a 10x smaller file
in the same run. Usage: DATABASE_URL=postgres://... python bench/import_speed.py [traces]
Last line: one JSON object with the figures.
"""

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

STEPS_PER_TRACE = 10
BENCH_DB = "stepwise_bench_import"


def write_file(path: Path, traces: int, seed: int) -> int:
    """A PRM800K-shaped file: 100 problems, `traces` label rows of 10 steps each."""
    rng = random.Random(seed)
    steps_written = 0
    with path.open("w") as out:
        for t in range(traces):
            problem = t % 100
            steps = []
            for s in range(STEPS_PER_TRACE):
                text = (
                    f"Step {s} of solution {seed}-{t}: {rng.random():.6f} + x = {rng.randint(1, 9)}"
                )
                steps.append(
                    {
                        "completions": [
                            {"text": text, "rating": rng.choice([-1, 0, 1]), "flagged": False}
                        ],
                        "human_completion": None,
                        "chosen_completion": 0,
                    }
                )
                steps_written += 1
            # PRM800K's last step states the answer; about a third of the solutions are wrong.
            answer = problem if rng.random() < 0.7 else problem + rng.randint(1, 9)
            steps[-1]["completions"][0]["text"] += f"\n\n# Answer\n\n{answer}"
            row = {
                "labeler": f"labeler-{t % 37}",
                "timestamp": "2022-07-30T23:23:32.118856",
                "generation": t % 10,
                "is_quality_control_question": False,
                "is_initial_screening_question": False,
                "question": {
                    "problem": f"Problem {problem}: find x.",
                    "ground_truth_answer": str(problem),
                },
                "label": {"steps": steps, "total_time": 1000 + t, "finish_reason": "solution"},
            }
            out.write(json.dumps(row) + "\n")
    return steps_written


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
        steps = write_file(path, traces, seed=len(label))
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
