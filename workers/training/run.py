"""One training run of a job: resume from the last complete checkpoint, train, save the final
model (LoRA adapters merged, so it loads like any model), write the outcome.

Everything lives under STEPWISE_MODEL_STORE/job-<id>/: `data/` (the train file, or a GRPO
run's problem set), `checkpoints/` (transformers' checkpoint-N directories), `model/` (the final
model) and `outcome.json`. A run whose worker died is taken again by another worker and goes
on from the last checkpoint that was written completely; a run that finished already is not
trained twice.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.jobs.models import Job
from annotation.jobs.params import JobParams, job_params
from annotation.training.params import GRPOParams, TrainingParams
from workers.training.callbacks import JobProgress
from workers.training.data import fetch_train_file, file_sha256, load_rows, write_problem_set
from workers.training.grpo import grpo_trainer
from workers.training.prm import prm_trainer
from workers.training.trl_trainers import trl_trainer

OUTCOME_NAME = "outcome.json"
TRAINER_STATE = "trainer_state.json"  # transformers writes it last into a checkpoint


@dataclass(frozen=True)
class Outcome:
    status: str  # finished or cancelled
    global_step: int
    train_loss: float | None  # the mean over the run (transformers' training_loss)
    final_loss: float | None  # the last logged loss
    model_path: str | None  # the final model (finished runs)
    checkpoint: str | None  # the last checkpoint (cancelled runs)
    seconds: float  # this attempt's training time
    data_sha256: str = ""  # of the file trained on (a GRPO run's problem set)


def run_directory(job: Job) -> Path:
    return Path(settings.STEPWISE_MODEL_STORE) / f"job-{job.pk}"


def read_outcome(job: Job) -> Outcome | None:
    path = run_directory(job) / OUTCOME_NAME
    return Outcome(**json.loads(path.read_text())) if path.exists() else None


def prepare_data(job: Job) -> Path:
    """The run's data in its directory (once, before any process trains): the export's train
    file, or a GRPO run's problem set."""
    params: JobParams = job_params(job)
    directory = run_directory(job) / "data"
    if isinstance(params, GRPOParams):
        return write_problem_set(job, params, directory)
    assert isinstance(params, TrainingParams)
    return fetch_train_file(params.export, directory)


# The function that builds each method's trainer: (params, rows, checkpoints, callbacks).
TRAINERS: dict[str, Any] = {
    "sft": trl_trainer,
    "dpo": trl_trainer,
    "prm": prm_trainer,
    "grpo": grpo_trainer,
}


def checkpoints_of(directory: Path) -> list[Path]:
    """The checkpoint-N directories, oldest first, complete or not."""
    if not directory.is_dir():
        return []
    return sorted(
        (p for p in directory.iterdir() if p.is_dir() and p.name.startswith("checkpoint-")),
        key=lambda p: int(p.name.rpartition("-")[2]),
    )


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / TRAINER_STATE).exists()


def last_complete_checkpoint(directory: Path) -> Path | None:
    """The newest checkpoint with its trainer state. Newer ones that a dying worker left half
    written are removed, so the resumed run rotates its checkpoints as it should: call this
    only when no run of the job is writing."""
    found = checkpoints_of(directory)
    while found and not is_complete(found[-1]):
        shutil.rmtree(found.pop(), ignore_errors=True)
    return found[-1] if found else None


def train(job: Job) -> Outcome:
    """Train the job's model (or go on training it) and return the outcome; in a run of
    several processes every process calls this, and the first one writes the files."""
    finished = read_outcome(job)
    if finished is not None and finished.status == "finished":
        return finished
    params: JobParams = job_params(job)
    assert isinstance(params, TrainingParams | GRPOParams)
    root = run_directory(job)
    checkpoints = root / "checkpoints"
    resume = last_complete_checkpoint(checkpoints)
    data = prepare_data(job)
    dataset = load_rows(data, root / "hf-cache")
    progress = JobProgress(job)
    trainer = TRAINERS[params.method](params, dataset, checkpoints, [progress])
    started = time.monotonic()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    common: dict[str, Any] = {
        "global_step": trainer.state.global_step,
        "train_loss": output.training_loss,
        "final_loss": logged[-1] if logged else None,
        "seconds": round(time.monotonic() - started, 3),
        "data_sha256": (
            file_sha256(data) if isinstance(params, GRPOParams) else params.export.sha256
        ),
    }
    if progress.cancelled:
        checkpoint = last_complete_checkpoint(checkpoints)
        outcome = Outcome(
            status="cancelled",
            model_path=None,
            checkpoint=str(checkpoint) if checkpoint else None,
            **common,
        )
    else:
        model_path = root / "model"
        if trainer.is_world_process_zero():
            save_final_model(trainer, model_path)
        outcome = Outcome(status="finished", model_path=str(model_path), checkpoint=None, **common)
    if trainer.is_world_process_zero():
        write_outcome(root, outcome)
    return outcome


def save_final_model(trainer: Any, target: Path) -> None:
    """The trained model with any LoRA adapters merged, and its tokenizer, written beside the
    target and renamed into place, so a half-written model never sits at `target`."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.config.use_cache = True  # gradient checkpointing turned it off for training
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    trainer.processing_class.save_pretrained(str(partial))
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)


def write_outcome(root: Path, outcome: Outcome) -> None:
    partial = root / (OUTCOME_NAME + ".partial")
    partial.write_text(json.dumps(asdict(outcome), indent=2) + "\n")
    os.replace(partial, root / OUTCOME_NAME)
