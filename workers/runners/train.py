"""Training jobs (SFT, DPO, PRM, GRPO): train in this worker or in `accelerate launch`
processes, then register the model the run saved as a model config with its lineage.

A cancelled run stops at its next optimizer step, saves a checkpoint there and keeps it (the
job's result says where); a run whose worker died goes on from its last checkpoint.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings

from annotation.jobs.models import Job
from annotation.jobs.services import JobCancelled
from annotation.training.services import checkpoint_kept, trained_model_register
from workers.backends.base import BackendError
from workers.backends.registry import release_all
from workers.training.config import on_gpu
from workers.training.run import Outcome, prepare_data, read_outcome, run_directory, train

LOG_TAIL = 3000


def run_train(job: Job) -> dict[str, Any]:
    outcome = read_outcome(job)
    if outcome is None or outcome.status != "finished":
        prepare_data(job)
        if settings.STEPWISE_TRAIN_LAUNCHER == "accelerate":
            outcome = launch(job, settings.STEPWISE_TRAIN_PROCESSES)
        else:
            outcome = train_here(job)
    if outcome.status == "cancelled":
        checkpoint_kept(job, path=outcome.checkpoint or "", step=outcome.global_step)
        raise JobCancelled
    assert outcome.model_path is not None  # a finished run saved its model
    config = trained_model_register(
        job=job, path=outcome.model_path, data_sha256=outcome.data_sha256
    )
    return {
        "model_config": config.pk,
        "model": config.label,
        "path": outcome.model_path,
        "global_step": outcome.global_step,
        "train_loss": outcome.train_loss,
        "final_loss": outcome.final_loss,
        "seconds": outcome.seconds,
    }


def train_here(job: Job) -> Outcome:
    if on_gpu():
        release_all()  # the accelerator's memory goes to training, not to cached engines
    try:
        return train(job)
    finally:
        if on_gpu():
            release_all()  # nor to a reward model a GRPO run loaded


def launch(job: Job, processes: int) -> Outcome:
    """Run the training in `processes` processes (one per GPU) with accelerate's launcher."""
    command = [
        sys.executable,
        *("-m", "accelerate.commands.launch"),
        *("--num_processes", str(processes)),
        *(["--multi_gpu"] if processes > 1 else []),
        *("-m", "workers.training.launch", str(job.pk)),
    ]
    log_path = run_directory(job) / "train.log"
    with log_path.open("ab") as log:
        code = subprocess.call(
            command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    outcome = read_outcome(job)
    if code != 0 or outcome is None:
        if Job.objects.filter(pk=job.pk, cancel_requested=True).exists():
            raise JobCancelled
        tail = log_path.read_text(errors="replace")[-LOG_TAIL:]
        raise BackendError(
            f"the training processes exited with code {code}:\n{tail}", retryable=False
        )
    return outcome


def _die_with_parent() -> None:
    """In the child: end when the worker ends (a SIGKILLed worker leaves no trainer behind)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
