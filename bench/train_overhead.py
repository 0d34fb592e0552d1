"""Training-job overhead: one SFT run through the job vs. a plain TRL script, same data, model,
seed and hyperparameters, in one run.

The data: a generated PRM800K-shaped file imported into a database of its own (created and
dropped here), exported as sft-shortcut by the export job. The job path is the worker's own
task (workers.tasks.run_job) called in this process: claim, heartbeat, the export's file
copied and checked against its sha256, per-step progress and cancel checks, loss logging,
checkpoints every SAVE_STEPS, the final save and the model config with its lineage. The plain
path is what a researcher would write: load the same train file, SFTTrainer, train, save.
Each path runs REPEATS times, alternating, and the fastest run of each counts; torch uses one
thread, so that other work on a shared machine disturbs the figures less (the ratio of CPU
seconds is printed too).
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/train_overhead.py
[traces]
Last line: one JSON object with overhead_ratio (job s / plain s) and the two final losses.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

BENCH_DB = "stepwise_bench_train"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TRACES = int(sys.argv[1]) if len(sys.argv) > 1 else 600  # about 70% correct: the SFT rows
REPEATS = 3
HYPERPARAMETERS: dict[str, Any] = {
    "epochs": 2.0,
    "learning_rate": 1e-4,
    "batch_size": 4,
    "gradient_accumulation": 1,
    "max_length": 512,
    "seed": 0,
    "logging_steps": 10,
    "save_steps": 100,
}


def prepare(project: Any, directory: Path) -> Any:
    """Import the generated rows and export them as sft-shortcut; the export job."""
    from prm800k_data import write_prm800k_file

    from annotation.datasets.export.options import ExportOptions
    from annotation.datasets.export.services import start_export
    from annotation.datasets.importer import import_dataset
    from workers.tasks import run_job

    source = directory / "prm800k.jsonl"
    write_prm800k_file(source, TRACES, problems=TRACES // 4)
    import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(source.read_bytes()))
    export = start_export(project=project, user=None, options=ExportOptions(format="sft-shortcut"))
    run_job(export.pk)
    export.refresh_from_db()
    return export


def through_the_job(project: Any, export: Any, base: Any, attempt: int) -> dict[str, Any]:
    from annotation.training.services import start_training_job
    from workers.tasks import run_job

    started, cpu = time.perf_counter(), time.process_time()
    job = start_training_job(
        project=project,
        user=None,
        method="sft",
        export=export,
        base=base,
        name=f"bench sft {attempt}",
        hyperparameters=HYPERPARAMETERS,
    )
    run_job(job.pk)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    job.refresh_from_db()
    if job.status != "succeeded":
        raise RuntimeError(f"the training job {job.status}: {job.error}")
    return {
        "seconds": seconds,
        "cpu": cpu,
        "steps": job.result["global_step"],
        "final_loss": job.result["final_loss"],
        "train_loss": job.result["train_loss"],
    }


def plain_trl(train_file: Path, model_path: str, directory: Path) -> dict[str, Any]:
    """What a researcher would write by hand for the same run."""
    started, cpu = time.perf_counter(), time.process_time()
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    hp = HYPERPARAMETERS
    dataset = datasets.load_dataset(
        "json", data_files=str(train_file), cache_dir=str(directory / "hf-cache")
    )["train"]
    trainer = SFTTrainer(
        model=model_path,
        args=SFTConfig(
            output_dir=str(directory / "plain"),
            num_train_epochs=hp["epochs"],
            learning_rate=hp["learning_rate"],
            per_device_train_batch_size=hp["batch_size"],
            gradient_accumulation_steps=hp["gradient_accumulation"],
            max_length=hp["max_length"],
            seed=hp["seed"],
            logging_steps=hp["logging_steps"],
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            bf16=False,  # TRL's default is True; the job trains in float32 on a CPU
            disable_tqdm=True,
        ),
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_path),
    )
    output = trainer.train()
    trainer.save_model(str(directory / "plain" / "model"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "steps": trainer.state.global_step,
        "final_loss": losses[-1],
        "train_loss": output.training_loss,
    }


def main() -> None:
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    directory = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ.update(
        {
            "DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + BENCH_DB,
            "DJANGO_SETTINGS_MODULE": "annotation.settings",
            "CELERY_BROKER_URL": "memory://",  # the export and training jobs run right here
            "MEDIA_ROOT": str(directory / "media"),
            "STEPWISE_MODEL_STORE": str(directory / "models"),
            "DB_CONN_MAX_AGE": "0",
        }
    )
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        import django

        django.setup()
        import torch
        from django.core.files.storage import default_storage

        from annotation.core.models import Project
        from annotation.llm.services import model_config_create
        from workers.testing.tiny_models import build_tiny_causal_lm

        torch.set_num_threads(1)
        model_path = str(build_tiny_causal_lm(directory / "lm", seed=0))
        project = Project.objects.create(name="bench")
        export = prepare(project, directory)
        train_file = Path(default_storage.path(export.output_file.name))
        base = model_config_create(
            project=project,
            name="tiny",
            kind="transformers",
            path_or_endpoint=model_path,
            dtype="float32",
        )
        jobs, plains = [], []
        for attempt in range(REPEATS):
            plains.append(plain_trl(train_file, model_path, directory / f"plain-{attempt}"))
            jobs.append(through_the_job(project, export, base, attempt))
        job, plain = min(jobs, key=lambda r: r["seconds"]), min(plains, key=lambda r: r["seconds"])
        rows = export.result["manifest"]["splits"]["train"]["rows"]
        figures = {
            "rows": rows,
            "steps": job["steps"],
            "plain_steps": plain["steps"],
            "job_s": [round(r["seconds"], 2) for r in jobs],
            "plain_s": [round(r["seconds"], 2) for r in plains],
            "job_final_losses": [r["final_loss"] for r in jobs],
            "plain_final_losses": [r["final_loss"] for r in plains],
            "overhead_ratio": round(job["seconds"] / plain["seconds"], 3),
            "cpu_overhead_ratio": round(
                min(r["cpu"] for r in jobs) / min(r["cpu"] for r in plains), 3
            ),
            "job_final_loss": job["final_loss"],
            "plain_final_loss": plain["final_loss"],
            "final_loss_difference": abs(job["final_loss"] - plain["final_loss"]),
            "job_train_loss": job["train_loss"],
            "plain_train_loss": plain["train_loss"],
        }
        print(
            f"{rows} rows, {job['steps']} steps: job {job['seconds']:.2f} s, "
            f"plain TRL {plain['seconds']:.2f} s"
        )
        print(json.dumps(figures))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
