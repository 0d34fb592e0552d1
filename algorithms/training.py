"""Training hyperparameters, the number of optimizer steps a run takes, and its ETA.

Pure: the web process validates hyperparameters with these classes and the GPU worker builds
its trainer configuration from the same values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from algorithms.choices import TrainingMethod, values

METHODS: tuple[str, ...] = values(TrainingMethod)
# A learning rate per method when none is given: DPO and GRPO move a tuned policy only a little.
DEFAULT_LEARNING_RATE = {"sft": 2e-5, "dpo": 5e-7, "prm": 1e-5, "grpo": 1e-6}
# The KL weight per method: DPO's beta; GRPO's KL coefficient against the starting policy
# (0 would train without a reference model).
DEFAULT_BETA = {"dpo": 0.1, "grpo": 0.04}
# Hyperparameters only some methods use (every other one, every method uses): the forms leave
# them out of the other methods' runs and the pages do not show them there.
METHODS_USING: dict[str, tuple[str, ...]] = {
    "beta": ("dpo", "grpo"),
    "group_size": ("grpo",),
    "max_new_tokens": ("grpo",),
    "max_length": ("sft", "dpo", "prm"),
}


class HyperparameterError(ValueError):
    """A value that cannot work; the message starts with the field to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Hyperparameters:
    epochs: float = 1.0
    learning_rate: float = 2e-5
    batch_size: int = 4  # per device
    gradient_accumulation: int = 4
    max_length: int = 1024  # tokens per row; longer rows are truncated
    lora: bool = False  # train low-rank adapters (merged into the saved model) instead
    lora_r: int = 16
    lora_alpha: int = 32
    seed: int = 0
    warmup_steps: int = 0
    logging_steps: int = 10  # loss and learning rate are recorded every this many steps
    save_steps: int = 100  # a checkpoint to resume from every this many steps
    beta: float = 0.1  # DPO and GRPO: the weight of the reference model's KL penalty
    max_steps: int | None = None  # stop after this many optimizer steps (None: the epochs)
    group_size: int = 4  # GRPO: completions sampled per problem, compared with each other
    max_new_tokens: int = 256  # GRPO: tokens per completion at most

    def __post_init__(self) -> None:
        _at_least("epochs", self.epochs, 0.0, exclusive=True)
        if not 0.0 < self.learning_rate < 1.0:
            raise HyperparameterError("learning_rate", f"{self.learning_rate} is not in (0, 1)")
        for name, low in (
            ("batch_size", 1),
            ("gradient_accumulation", 1),
            ("max_length", 16),
            ("lora_r", 1),
            ("lora_alpha", 1),
            ("warmup_steps", 0),
            ("logging_steps", 1),
            ("save_steps", 1),
            ("seed", 0),
            ("group_size", 2),
            ("max_new_tokens", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise HyperparameterError(name, f"expected a whole number, got {value!r}")
            _at_least(name, value, low)
        if not isinstance(self.lora, bool):
            raise HyperparameterError("lora", f"expected true or false, got {self.lora!r}")
        _at_least("beta", self.beta, 0.0)
        if self.max_steps is not None:
            if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool):
                raise HyperparameterError(
                    "max_steps", f"expected a whole number or null, got {self.max_steps!r}"
                )
            _at_least("max_steps", self.max_steps, 1)

    @classmethod
    def used_by(cls, method: str) -> tuple[str, ...]:
        """The names of the hyperparameters a ``method`` run uses, in the dataclass's order."""
        return tuple(f.name for f in fields(cls) if method in METHODS_USING.get(f.name, METHODS))

    @classmethod
    def for_method(cls, method: str, given: dict[str, Any] | None = None) -> Hyperparameters:
        """The given values over the defaults, the learning rate defaulting per method."""
        if method not in METHODS:
            raise HyperparameterError("method", f"{method!r} is not one of {', '.join(METHODS)}")
        values = {k: v for k, v in (given or {}).items() if v is not None}
        values.setdefault("learning_rate", DEFAULT_LEARNING_RATE[method])
        if method in DEFAULT_BETA:
            values.setdefault("beta", DEFAULT_BETA[method])
        hp = cls.from_params(values)
        if method == "dpo" and hp.beta == 0:
            raise HyperparameterError("beta", "0 must be above 0 for DPO")
        if method == "grpo":
            completions = hp.batch_size * hp.gradient_accumulation
            if completions % hp.group_size:
                raise HyperparameterError(
                    "group_size",
                    f"{hp.group_size} must divide the completions of an optimizer step "
                    f"(batch_size x gradient_accumulation = {completions}), so that every "
                    "problem's group is whole",
                )
        return hp

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Hyperparameters:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise HyperparameterError(
                unknown[0], f"unknown hyperparameter; use {', '.join(sorted(names))}"
            )
        values = dict(params)
        for name in ("epochs", "learning_rate", "beta"):  # JSON may give a whole number
            if isinstance(values.get(name), int) and not isinstance(values[name], bool):
                values[name] = float(values[name])
        return cls(**values)

    def as_params(self) -> dict[str, Any]:
        return asdict(self)


def _at_least(name: str, value: float, low: float, *, exclusive: bool = False) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise HyperparameterError(name, f"expected a number, got {value!r}")
    if value < low or (exclusive and value == low):
        raise HyperparameterError(
            name, f"{value} must be {'above' if exclusive else 'at least'} {low}"
        )


def optimizer_steps(rows: int, hp: Hyperparameters, *, processes: int = 1) -> int:
    """The optimizer steps of a run over `rows` training rows, as transformers' Trainer counts
    them: batches per epoch, accumulated (a last partial accumulation still steps), times the
    epochs rounded up; or max_steps when set."""
    if hp.max_steps is not None:
        return hp.max_steps
    batches = math.ceil(rows / (hp.batch_size * processes))
    per_epoch = max(math.ceil(batches / hp.gradient_accumulation), 1)
    return math.ceil(hp.epochs * per_epoch)


def grpo_optimizer_steps(problems: int, hp: Hyperparameters, *, processes: int = 1) -> int:
    """The optimizer steps of a GRPO run over `problems` problems, as TRL's GRPOTrainer counts
    them: a step generates `group_size` completions for each of batch_size x accumulation x
    processes / group_size problems; problems left over at the end of an epoch are not
    drawn (its sampler keeps only whole batches); or max_steps when set."""
    if hp.max_steps is not None:
        return hp.max_steps
    return math.ceil(hp.epochs * (problems // grpo_problems_per_step(hp, processes=processes)))


def grpo_problems_per_step(hp: Hyperparameters, *, processes: int = 1) -> int:
    """The problems whose groups one optimizer step trains on (group_size divides the
    completions of a step, Hyperparameters.for_method checks it)."""
    return max(hp.batch_size * hp.gradient_accumulation * processes // hp.group_size, 1)


def eta_seconds(
    step: int, total: int, attempt_start_step: int, attempt_seconds: float
) -> float | None:
    """Seconds left at the pace of the current attempt (a resumed run counts only the steps it
    did itself); None before the attempt has made a step."""
    made = step - attempt_start_step
    if made <= 0 or attempt_seconds <= 0:
        return None
    return max(total - step, 0) * attempt_seconds / made
