"""The parameters of training and evaluation jobs, typed and frozen like every job's
(annotation/jobs/params.py): Job.params is their as_params(), `job_params(job, Cls)` reads
them back naming any field that no longer parses. Everything a worker needs is frozen here
when the job starts: the base model's snapshot, the export's train file and digests, the
hyperparameters. The rows they name (the export job, the base model, the evaluated models,
the problems, the prompt) are declared with `owns(...)`, so the project boundary checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from algorithms.choices import PRM_HEADS, PRMHead, SupervisedMethod
from algorithms.rewards import RewardSpec
from algorithms.training import Hyperparameters
from annotation.jobs.params import (
    JOB,
    MODEL_CONFIG,
    PROBLEM,
    PROMPT_VERSION,
    Generation,
    ModelSnapshot,
    Params,
    PromptSnapshot,
    check_between,
    check_items,
    check_sampling,
    owns,
)
from annotation.jobs.typed_json import ParamsError

SFT_FORMATS = ("sft-shortcut", "sft-journey")
DPO_FORMATS = ("dpo",)
PRM_FORMATS = ("trl-stepwise", "math-shepherd", "qwen-prm")
FORMATS_FOR_METHOD: dict[str, tuple[str, ...]] = {
    "sft": SFT_FORMATS,
    "dpo": DPO_FORMATS,
    "prm": PRM_FORMATS,
}
SPLITS = ("train", "test")
MAX_EVALUATED_MODELS = 12
MAX_SAMPLES_PER_PROBLEM = 64

Split = Literal["train", "test"]


@dataclass(frozen=True)
class ExportInput(Params):
    """The train split of an export job, identified by its digests."""

    job: int = field(metadata=owns(JOB))
    format: str
    file: str  # the storage name of the train file
    sha256: str  # of the train file, from the manifest
    rows: int
    manifest_sha256: str  # of the stored manifest.json
    test_problems: int


@dataclass(frozen=True)
class TrainingParams(Params):
    method: SupervisedMethod
    name: str  # of the model config the run registers
    base: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    export: ExportInput
    hyperparameters: Hyperparameters
    head: PRMHead | None = None  # prm: which scorer head the model is trained for

    def __post_init__(self) -> None:
        if self.method == "prm" and self.head not in PRM_HEADS:
            raise ParamsError("head", f"choose the PRM head: {' or '.join(PRM_HEADS)}")
        if self.method != "prm" and self.head is not None:
            raise ParamsError("head", f"only a prm run has a head, not a {self.method} run")
        formats = FORMATS_FOR_METHOD[self.method]
        if self.export.format not in formats:
            raise ParamsError(
                "export",
                f"export {self.export.job} is in format {self.export.format!r}; "
                f"{self.method} trains on {', '.join(formats)}",
            )


@dataclass(frozen=True)
class ProblemSet(Params):
    """The problems a GRPO run samples from: chosen in the project, or one side of an
    export's train/test split; problems without an answer are left out (and counted) when
    the answer check is part of the reward."""

    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    source: Literal["project", "export"] = "project"
    export: int | None = field(default=None, metadata=owns(JOB))
    split: Split | None = None  # of the export
    without_answer: int = 0  # left out

    def __post_init__(self) -> None:
        check_items("problem_ids", self.problem_ids)
        if (self.source == "export") != (self.export is not None and self.split is not None):
            raise ParamsError("export", "an export's problems name the export and its split")


@dataclass(frozen=True)
class GRPOParams(Params):
    """GRPO from a base or SFT model on a problem set, rewarded by the answer check and a
    PRM of the project; the run registers the policy it trains."""

    name: str  # of the model config the run registers
    base: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    problems: ProblemSet
    prompt: PromptSnapshot = field(metadata=owns(PROMPT_VERSION))  # renders each problem
    reward: RewardSpec
    hyperparameters: Hyperparameters
    reward_model: ModelSnapshot | None = field(default=None, metadata=owns(MODEL_CONFIG))
    method: Literal["grpo"] = "grpo"

    def __post_init__(self) -> None:
        if self.reward.uses_process and self.reward_model is None:
            raise ParamsError("reward_model", "a process weight above 0 needs a PRM to score steps")
        if not self.reward.uses_process and self.reward_model is not None:
            raise ParamsError("reward_model", "a PRM is used only with a process weight above 0")
        if self.reward_model is not None and self.reward_model.scorer_head not in PRM_HEADS:
            raise ParamsError(
                "reward_model", f"{self.reward_model.name} is not a PRM ({', '.join(PRM_HEADS)})"
            )

    def model_version(self) -> str:
        return self.base.label  # the policy it trains (a reward model only scores)


@dataclass(frozen=True)
class HeldOutSet(Params):
    """Where an evaluation's problems come from, and how many the split guard took out."""

    source: Literal["project", "export"]
    export: int | None = field(default=None, metadata=owns(JOB))  # source export: its job
    excluded_training_problems: int = 0


@dataclass(frozen=True)
class EvaluationParams(Params, Generation):
    """k samples per problem from each model, under the same sampling (no model's own
    defaults), so that the rows of the results table compare."""

    models: tuple[ModelSnapshot, ...] = field(metadata=owns(MODEL_CONFIG))  # the rows, in order
    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    prompt: PromptSnapshot = field(metadata=owns(PROMPT_VERSION))
    held_out: HeldOutSet
    k: int = 4  # samples per problem and model
    sampling: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 8

    def __post_init__(self) -> None:
        if not 1 <= len(self.models) <= MAX_EVALUATED_MODELS:
            raise ParamsError(
                "models", f"choose 1 to {MAX_EVALUATED_MODELS} models, got {len(self.models)}"
            )
        if len({m.id for m in self.models}) != len(self.models):
            raise ParamsError("models", "a model is listed twice")
        check_items("problem_ids", self.problem_ids)
        check_between("k", self.k, 1, MAX_SAMPLES_PER_PROBLEM)
        check_sampling(self.sampling)
        check_between("chunk_size", self.chunk_size, 1, 1000)

    def total(self) -> int:
        return len(self.problem_ids) * len(self.models)  # one item per problem and model

    def model_version(self) -> str:
        return " | ".join(m.label for m in self.models)  # the rows, which compare
