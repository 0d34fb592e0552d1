"""Training-job overhead: one SFT (or GRPO) run through the job vs. a plain TRL script, same
data, model, seed and hyperparameters, in one run.

The data: a generated PRM800K-shaped file imported into a database of its own (created and
dropped here), exported as sft-shortcut by the export job. The job path is the worker's own
task (workers.tasks.run_job) called in this process: claim, heartbeat, the export's file
copied and checked against its sha256, per-step progress and cancel checks, loss logging,
checkpoints every SAVE_STEPS, the final save and the model config with its lineage. The plain
path is what a researcher would write: load the same train file, SFTTrainer, train, save.
Each path runs REPEATS times, alternating, and the fastest run of each counts; torch uses one
thread, so that other work on a shared machine disturbs the figures less (the ratio of CPU
seconds is printed too).

GRPO (`grpo` as the first argument): the imported problems, each rendered with the project's
sample prompt, `group_size` completions per problem, rewarded by the answer check and a tiny
Math-Shepherd PRM (min of its step scores, weight 0.5). The job path adds, beside the above,
the problem file written from the database, the PRM loaded through the model registry, a
group of reward records stored with every logging step and the rewards logged per step; the
plain path is GRPOTrainer with a reward function a researcher would write with the same
checks (the answer check and the PRM's scorer, combined by algorithms.rewards).
The machine is shared: the load average before each run is printed with its time.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/train_overhead.py
[sft|grpo] [traces]
Last line: one JSON object with overhead_ratio (job s / plain s) and the two final losses.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

BENCH_DB = "stepwise_bench_train"  # _grpo for a GRPO run, so that both may run at once
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

ARGS = sys.argv[1:]
METHOD = ARGS.pop(0) if ARGS and ARGS[0] in ("sft", "grpo") else "sft"
TRACES = int(ARGS[0]) if ARGS else 600  # about 70% correct: the SFT rows
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))  # runs of each path, alternating
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


# GRPO: two problems per step (groups of four), 40 steps over the first 80 problems.
GRPO_PROBLEMS = 80
GRPO_HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 1e-5,
    "batch_size": 4,
    "gradient_accumulation": 2,
    "group_size": 4,
    "max_new_tokens": 24,
    "beta": 0.04,
    "seed": 0,
    "logging_steps": 5,
    "save_steps": 20,
    "max_steps": 40,
}
GRPO_REWARD = {"outcome_weight": 1.0, "process_weight": 0.5, "aggregation": "min"}


def prepare(project: Any, directory: Path) -> Any:
    """Import the generated rows and export them as sft-shortcut; the export job."""
    from annotation.datasets.export.options import ExportOptions
    from annotation.datasets.export.services import export_start
    from workers.tasks import run_job

    import_only(project, directory)
    export = export_start(project=project, user=None, options=ExportOptions(format="sft-shortcut"))
    run_job(export.pk)
    export.refresh_from_db()
    return export


def run_timed(start: Callable[[], Any], what: str) -> tuple[Any, dict[str, Any]]:
    """Starts a job with ``start()`` and runs it in this process; the job and what it took
    (wall and CPU seconds, from the start on) with its steps and losses."""
    from workers.tasks import run_job

    started, cpu = time.perf_counter(), time.process_time()
    job = start()
    run_job(job.pk)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    job.refresh_from_db()
    if job.status != "succeeded":
        raise RuntimeError(f"the {what} job {job.status}: {job.error}")
    return job, {
        "seconds": seconds,
        "cpu": cpu,
        "steps": job.result["global_step"],
        "final_loss": job.result["final_loss"],
        "train_loss": job.result["train_loss"],
    }


def through_the_job(project: Any, export: Any, base: Any, attempt: int) -> dict[str, Any]:
    from annotation.training.services import training_job_start

    _job, measured = run_timed(
        lambda: training_job_start(
            project=project,
            user=None,
            method="sft",
            export=export,
            base=base,
            name=f"bench sft {attempt}",
            hyperparameters=HYPERPARAMETERS,
        ),
        "training",
    )
    return measured


def plain_arguments(hp: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The trainer arguments a plain script sets, for SFTConfig or GRPOConfig."""
    return {
        "output_dir": str(directory / "plain"),
        "learning_rate": hp["learning_rate"],
        "per_device_train_batch_size": hp["batch_size"],
        "gradient_accumulation_steps": hp["gradient_accumulation"],
        "seed": hp["seed"],
        "logging_steps": hp["logging_steps"],
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "bf16": False,  # TRL's default is True; the job trains in float32 on a CPU
        "disable_tqdm": True,
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
            **plain_arguments(hp, directory),
            num_train_epochs=hp["epochs"],
            max_length=hp["max_length"],
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


def grpo_through_the_job(
    project: Any, base: Any, prm: Any, prompt: Any, problem_ids: list[int], attempt: int
) -> dict[str, Any]:
    from annotation.training.models import TrainingLogEntry
    from annotation.training.services import grpo_job_start

    job, measured = run_timed(
        lambda: grpo_job_start(
            project=project,
            user=None,
            base=base,
            name=f"bench grpo {attempt}",
            prompt=prompt,
            problem_ids=problem_ids,
            reward=GRPO_REWARD,
            reward_model=prm,
            hyperparameters=GRPO_HYPERPARAMETERS,
        ),
        "GRPO",
    )
    last = TrainingLogEntry.objects.filter(job=job).order_by("step").last()
    return {**measured, "final_reward": last.reward if last is not None else None}


def grpo_plain_trl(
    rows: list[dict[str, Any]], model_path: str, prm_path: str, directory: Path
) -> dict[str, Any]:
    """What a researcher would write by hand: the same rows, checks and configuration."""
    started, cpu = time.perf_counter(), time.process_time()
    import datasets
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from algorithms.answers import answers_equivalent_many
    from algorithms.rewards import RewardSpec, answer_verdicts, prm_steps, reward_record
    from workers.backends.base import ScoreItem
    from workers.backends.prm_scorers import MathShepherdScorer

    spec = RewardSpec.from_params(GRPO_REWARD)
    scorer = MathShepherdScorer(prm_path)

    def reward(
        completions: list[Any], problem: list[str], answer: list[str], **_: Any
    ) -> list[float | None]:
        texts = [c[0]["content"] for c in completions]
        verdicts = answer_verdicts(texts, answer, answers_equivalent_many)
        steps = [prm_steps(text, scorer.marker) for text in texts]
        todo = [i for i, found in enumerate(steps) if found]
        scored = scorer.score([ScoreItem(problem[i], steps[i] or []) for i in todo])
        scores: list[list[float] | None] = [None] * len(texts)
        for i, found in zip(todo, scored, strict=True):
            scores[i] = found
        rewards: list[float | None] = [
            reward_record(
                problem_id=0,
                completion=texts[i],
                answer=verdicts[i][0],
                truth=answer[i],
                correct=verdicts[i][1],
                steps=steps[i],
                step_scores=scores[i],
                spec=spec,
            ).reward
            for i in range(len(texts))
        ]
        return rewards

    hp = GRPO_HYPERPARAMETERS
    trainer = GRPOTrainer(
        model=model_path,
        reward_funcs=[reward],
        args=GRPOConfig(
            **plain_arguments(hp, directory),
            num_generations=hp["group_size"],
            max_completion_length=hp["max_new_tokens"],
            beta=hp["beta"],
            max_steps=hp["max_steps"],
        ),
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(model_path, padding_side="left"),
    )
    output = trainer.train()
    trainer.save_model(str(directory / "plain" / "model"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "steps": trainer.state.global_step,
        "final_loss": logged[-1]["loss"],
        "train_loss": output.training_loss,
        "final_reward": logged[-1]["reward"],
    }


def run_grpo(project: Any, directory: Path, model_path: str) -> dict[str, Any]:
    """The job and the plain script alternately; the figures of the fastest of each."""
    from algorithms.prompts import render_prompt
    from annotation.llm.defaults import DEFAULT_PROMPTS
    from annotation.llm.services import model_config_create, prompt_template_create
    from annotation.problems.models import Problem
    from workers.backends.registry import release_all
    from workers.testing.tiny_models import build_tiny_prm

    prm_path = str(build_tiny_prm(directory / "prm", "math-shepherd", seed=1))
    name, purpose, text = next(p for p in DEFAULT_PROMPTS if p[1] == "sample")
    prompt = prompt_template_create(project=project, name=name, purpose=purpose, text=text)
    base = model_config_create(
        project=project,
        name="tiny",
        kind="transformers",
        path_or_endpoint=model_path,
        dtype="float32",
    )
    prm = model_config_create(
        project=project,
        name="tiny prm",
        kind="transformers",
        path_or_endpoint=prm_path,
        dtype="float32",
        scorer_head="math-shepherd",
    )
    problems = list(
        Problem.objects.filter(project=project).exclude(answer="").order_by("pk")[:GRPO_PROBLEMS]
    )
    rows = [  # as the job writes its problem file (workers/training/data.py)
        {
            "prompt": [{"role": "user", "content": render_prompt(text, {"problem": p.text})}],
            "problem": p.text,
            "answer": p.answer,
            "problem_id": p.pk,
        }
        for p in problems
    ]
    jobs, plains = [], []
    for attempt in range(REPEATS):
        release_all()  # each job loads its PRM, as a job on a fresh worker does
        load = os.getloadavg()[0]
        plains.append(
            {**grpo_plain_trl(rows, model_path, prm_path, directory / f"p{attempt}"), "load": load}
        )
        load = os.getloadavg()[0]
        jobs.append(
            {
                **grpo_through_the_job(
                    project, base, prm, prompt.versions.get(), [p.pk for p in problems], attempt
                ),
                "load": load,
            }
        )
    return figures(len(problems), jobs, plains, extra=("final_reward",))


def figures(
    rows: int, jobs: list[dict[str, Any]], plains: list[dict[str, Any]], extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    job, plain = min(jobs, key=lambda r: r["seconds"]), min(plains, key=lambda r: r["seconds"])
    found = {
        "rows": rows,
        "steps": job["steps"],
        "plain_steps": plain["steps"],
        "job_s": [round(r["seconds"], 2) for r in jobs],
        "plain_s": [round(r["seconds"], 2) for r in plains],
        "job_load": [round(r.get("load", 0.0), 2) for r in jobs],
        "plain_load": [round(r.get("load", 0.0), 2) for r in plains],
        "job_final_losses": [r["final_loss"] for r in jobs],
        "plain_final_losses": [r["final_loss"] for r in plains],
        "overhead_ratio": round(job["seconds"] / plain["seconds"], 3),
        # On a shared machine the fastest runs may fall at different loads: the medians too.
        "median_overhead_ratio": round(
            statistics.median(r["seconds"] for r in jobs)
            / statistics.median(r["seconds"] for r in plains),
            3,
        ),
        "cpu_overhead_ratio": round(min(r["cpu"] for r in jobs) / min(r["cpu"] for r in plains), 3),
        "job_final_loss": job["final_loss"],
        "plain_final_loss": plain["final_loss"],
        "final_loss_difference": abs(job["final_loss"] - plain["final_loss"]),
        "job_train_loss": job["train_loss"],
        "plain_train_loss": plain["train_loss"],
    }
    for name in extra:
        found[f"job_{name}s"] = [r[name] for r in jobs]
        found[f"plain_{name}s"] = [r[name] for r in plains]
    print(
        f"{METHOD}: {rows} rows, {job['steps']} steps: job {job['seconds']:.2f} s, "
        f"plain TRL {plain['seconds']:.2f} s"
    )
    return found


def run_sft(project: Any, directory: Path, model_path: str) -> dict[str, Any]:
    from django.core.files.storage import default_storage

    from annotation.llm.services import model_config_create

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
        load = os.getloadavg()[0]
        plains.append(
            {**plain_trl(train_file, model_path, directory / f"plain-{attempt}"), "load": load}
        )
        load = os.getloadavg()[0]
        jobs.append({**through_the_job(project, export, base, attempt), "load": load})
    return figures(export.result["manifest"]["splits"]["train"]["rows"], jobs, plains)


def import_only(project: Any, directory: Path) -> None:
    """The generated PRM800K-shaped problems and traces (GRPO reads only the problems)."""
    from prm800k_data import write_prm800k_file

    from annotation.datasets.importer import import_dataset

    source = directory / "prm800k.jsonl"
    write_prm800k_file(source, TRACES, problems=TRACES // 4)
    import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(source.read_bytes()))


def main() -> None:
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    bench_db = BENCH_DB if METHOD == "sft" else f"{BENCH_DB}_{METHOD}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {bench_db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {bench_db}")
    directory = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ.update(
        {
            "DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + bench_db,
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

        from annotation.core.models import Project
        from workers.testing.tiny_models import build_tiny_causal_lm

        torch.set_num_threads(1)
        model_path = str(build_tiny_causal_lm(directory / "lm", seed=0))
        project = Project.objects.create(name="bench")
        if METHOD == "grpo":
            import_only(project, directory)
            found = run_grpo(project, directory, model_path)
        else:
            found = run_sft(project, directory, model_path)
        print(json.dumps(found))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {bench_db} WITH (FORCE)")
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
