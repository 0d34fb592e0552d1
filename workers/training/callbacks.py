"""The trainer callback that ties a run to its job row: progress and heartbeat after every
optimizer step, the cancel flag checked there (a cancel saves a checkpoint and stops), loss
and learning rate recorded at every logging step; for a GRPO run also the reward's mean and
spread, the KL, the completion length and a group of reward records.

With several processes (accelerate), the first process talks to the database and the others
follow its decision to stop, so that every process leaves the loop at the same step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from annotation.jobs.models import Job
from annotation.jobs.services import JobCancelled, job_progress_report
from annotation.training.models import TrainingLogEntry
from annotation.training.services import training_log_write


class JobProgress(TrainerCallback):
    def __init__(self, job: Job) -> None:
        self.job = job
        self.cancelled = False
        self.cancel_seen = False  # asked before the first step: honoured at its end
        self.attempt_start_step = 0
        self.attempt_started = time.monotonic()
        # A GRPO run's reward function: the records of its latest completions, as JSON.
        self.recorded_rewards: Callable[[], list[dict[str, Any]]] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.attempt_start_step = state.global_step
        self.attempt_started = time.monotonic()
        if state.is_world_process_zero:
            self._report(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if state.is_world_process_zero:
            self._report(state)
        if _broadcast(self.cancel_seen):
            self.cancelled = True
            control.should_save = True  # the checkpoint a cancelled run keeps
            control.should_training_stop = True

    def _report(self, state: Any) -> None:
        """Progress and heartbeat; a cancel is noted, and every process stops at a step end
        (raising here would leave the other processes waiting for this one)."""
        try:
            job_progress_report(self.job, state.global_step, state.max_steps)
        except JobCancelled:
            self.cancel_seen = True

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return  # the end-of-training summary has train_loss, not loss
        entry = TrainingLogEntry(
            step=state.global_step,
            loss=_number(logs.get("loss")),
            learning_rate=_number(logs.get("learning_rate")),
            grad_norm=_number(logs.get("grad_norm")),
            epoch=_number(logs.get("epoch")),
            reward=_number(logs.get("reward")),
            reward_std=_number(logs.get("reward_std")),
            kl=_number(logs.get("kl")),
            response_length=_number(logs.get("completions/mean_length")),
            reward_outcome=_number(logs.get("reward/outcome")),
            reward_process=_number(logs.get("reward/process")),
            reward_samples=self.recorded_rewards() if self.recorded_rewards else [],
            attempt_start_step=self.attempt_start_step,
            attempt_seconds=time.monotonic() - self.attempt_started,
        )
        training_log_write(self.job, [entry])


def _number(value: Any) -> float | None:
    """A logged figure; None when not logged, or NaN (TRL logs NaN for a metric it had no
    value for)."""
    return None if value is None or math.isnan(float(value)) else float(value)


def _broadcast(flag: bool) -> bool:
    """The first process's flag, on every process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    box = [flag]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])
