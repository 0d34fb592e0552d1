"""What a trained model came from, and the loss curve of its run.

A finished training job registers an ordinary ModelConfig (generator or scorer) and one
ModelLineage row beside it: the base model, the export (its job and the sha256 of its manifest
and train file), the job, the hyperparameters and the code version. Following `parent` upwards
gives what a model was trained from; `derived` downwards, what was trained from it. A policy
trained with reinforcement learning (GRPO) also names what rewarded it: the reward model (a
PRM of the project), the reward's weights, and the problems it practised on.
"""

from dataclasses import fields
from typing import Any

from django.db import models

from algorithms.choices import METHOD_LABELS, TrainingMethod, labelled, values
from algorithms.training import Hyperparameters
from annotation.jobs.models import Job
from annotation.llm.models import ModelConfig

# Names that "learning_rate" -> "Learning rate" would get wrong
NAMES_IN_WORDS = {"lora": "LoRA adapters", "lora_r": "LoRA rank", "lora_alpha": "LoRA alpha"}
# The form's order (the dataclass's); JSON columns keep no order of their own
ORDER = {f.name: i for i, f in enumerate(fields(Hyperparameters))}


def in_words(values: dict[str, Any]) -> list[tuple[str, Any]]:
    """Hyperparameters (or a reward's weights) as a page shows them: "Learning rate", not
    `learning_rate`, in the form's order (others after, as given); numbers as numbers (2e-05,
    1 for 1.0) and yes/no."""
    names = sorted(values, key=lambda name: ORDER.get(name, len(ORDER)))
    return [
        (NAMES_IN_WORDS.get(name) or name.replace("_", " ").capitalize(), _shown(values[name]))
        for name in names
    ]


def settings_in_words(method: str, values: dict[str, Any]) -> list[tuple[str, Any]]:
    """A run's hyperparameters in words, without those its method does not use (a GRPO group
    size on an SFT run): every run stores them all."""
    unused = {f.name for f in fields(Hyperparameters)} - set(Hyperparameters.used_by(method))
    return in_words({name: value for name, value in values.items() if name not in unused})


def _shown(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}"
    return value


class ModelLineage(models.Model):
    config = models.OneToOneField(ModelConfig, on_delete=models.CASCADE, related_name="lineage")
    parent = models.ForeignKey(
        ModelConfig, on_delete=models.SET_NULL, null=True, blank=True, related_name="derived"
    )
    parent_label = models.CharField(max_length=255, help_text="The base's name@vN at the start.")
    method = models.CharField(max_length=10, choices=labelled(TrainingMethod, METHOD_LABELS))
    job = models.OneToOneField(
        Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="trained_model"
    )
    export_job = models.ForeignKey(
        Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="trained_models"
    )
    export_format = models.CharField(max_length=40)
    manifest_sha256 = models.CharField(max_length=64)
    train_file_sha256 = models.CharField(max_length=64)
    train_rows = models.PositiveIntegerField()
    hyperparameters = models.JSONField(default=dict)
    code_version = models.CharField(max_length=64)
    # GRPO: what rewarded the policy. The PRM's name@vN stays if the config is deleted.
    reward_model = models.ForeignKey(
        ModelConfig,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rewarded_policies",
    )
    reward_model_label = models.CharField(max_length=255, blank=True)
    reward = models.JSONField(default=dict, blank=True, help_text="The reward's weights.")
    # The problems a GRPO run practised on, kept out of every evaluation of the policy.
    problem_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(method__in=list(values(TrainingMethod))),
                name="modellineage_method_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.config_id} <- {self.parent_label} ({self.method})"

    def hyperparameters_in_words(self) -> list[tuple[str, Any]]:
        return settings_in_words(self.method, self.hyperparameters)


class TrainingLogEntry(models.Model):
    """Loss and learning rate at one logging step of a training job. A run resumed from a
    checkpoint logs the steps after it again; the later values replace the earlier ones.

    A GRPO run also logs its rewards (mean and spread over the step's completions), the KL
    to the starting policy, the mean completion length, and a few completions with the inputs
    and outputs of their reward (algorithms.rewards.RewardRecord)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="training_log")
    step = models.PositiveIntegerField()
    loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    epoch = models.FloatField(null=True, blank=True)
    reward = models.FloatField(null=True, blank=True)
    reward_std = models.FloatField(null=True, blank=True)
    reward_outcome = models.FloatField(null=True, blank=True)  # the answer check's mean
    reward_process = models.FloatField(null=True, blank=True)  # the PRM's mean
    kl = models.FloatField(null=True, blank=True)
    response_length = models.FloatField(null=True, blank=True)  # tokens, mean
    reward_samples = models.JSONField(default=list, blank=True)
    # The pace of the attempt (worker) that logged it: the ETA uses only the current attempt.
    attempt_start_step = models.PositiveIntegerField(default=0)
    attempt_seconds = models.FloatField(default=0.0)
    logged_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "step"]
        constraints = [
            models.UniqueConstraint(fields=["job", "step"], name="traininglog_unique_step"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} step {self.step}: loss {self.loss}"
