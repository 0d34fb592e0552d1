"""The parameters of training and evaluation jobs, as typed frozen objects (Job.params is
their as_params()). Everything a worker needs is frozen here when the job starts: the base
model's snapshot, the export's train file and digests, the hyperparameters."""

from dataclasses import asdict, dataclass, fields
from typing import Any

from algorithms.training import Hyperparameters

SFT_FORMATS = ("sft-shortcut", "sft-journey")
DPO_FORMATS = ("dpo",)
PRM_FORMATS = ("trl-stepwise", "math-shepherd", "qwen-prm")
FORMATS_FOR_METHOD: dict[str, tuple[str, ...]] = {
    "sft": SFT_FORMATS,
    "dpo": DPO_FORMATS,
    "prm": PRM_FORMATS,
}
PRM_HEADS = ("math-shepherd", "qwen-prm")


class ParamsError(ValueError):
    """Job params that do not fit the dataclass (a job row written by other code)."""


def _known(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - names)
    if unknown:
        raise ParamsError(f"unknown {cls.__name__} params: {', '.join(unknown)}")
    return dict(params)


@dataclass(frozen=True)
class ExportInput:
    """The train split of an export job, identified by its digests."""

    job: int
    format: str
    file: str  # the storage name of the train file
    sha256: str  # of the train file, from the manifest
    rows: int
    manifest_sha256: str  # of the stored manifest.json
    test_problems: int


@dataclass(frozen=True)
class TrainingParams:
    method: str  # sft, dpo or prm
    name: str  # of the model config the run registers
    base: dict[str, Any]  # the base ModelConfig's snapshot, with its id
    export: ExportInput
    hyperparameters: Hyperparameters
    head: str | None = None  # prm: math-shepherd or qwen-prm

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "TrainingParams":
        values = _known(cls, params)
        values["export"] = ExportInput(**_known(ExportInput, values["export"]))
        values["hyperparameters"] = Hyperparameters.from_params(values["hyperparameters"])
        return cls(**values)

    def as_params(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HeldOutSet:
    """Where an evaluation's problems come from, and how many the split guard took out."""

    source: str  # "project" or "export"
    export: int | None = None
    excluded_training_problems: int = 0


@dataclass(frozen=True)
class EvaluationParams:
    models: tuple[dict[str, Any], ...]  # snapshots with their ids, in the table's row order
    problem_ids: tuple[int, ...]
    k: int  # samples per problem and model
    sampling: dict[str, Any]
    prompt: dict[str, Any]  # label, id, text of a sample prompt version
    held_out: HeldOutSet
    chunk_size: int = 8

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "EvaluationParams":
        values = _known(cls, params)
        values["models"] = tuple(values["models"])
        values["problem_ids"] = tuple(values["problem_ids"])
        values["held_out"] = HeldOutSet(**_known(HeldOutSet, values["held_out"]))
        return cls(**values)

    def as_params(self) -> dict[str, Any]:
        data = asdict(self)
        data["models"] = list(self.models)
        data["problem_ids"] = list(self.problem_ids)
        return data
