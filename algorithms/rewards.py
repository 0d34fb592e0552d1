"""The rewards of a GRPO run, from the project's own checks.

- **Outcome**: the answer check: 1 when the completion's final answer is equivalent to the
  problem's answer (algorithms.answers, as every sample is graded), else 0 (a wrong answer, no
  answer at all).
- **Process**: a process reward model's step scores (each P(good) in [0, 1]) reduced to one
  number: the minimum (a solution is as good as its worst step, as in PRM800K's best-of-N),
  the last step's score, or the product (the probability that every step is good, if they
  were independent).
- **Reward**: outcome_weight * outcome + process_weight * process. A completion the PRM cannot
  read (no step, or a step containing the PRM's own marker token) gets process 0, the lowest
  score a PRM gives, so writing the marker never pays.

A completion is split into steps as every model sample is (algorithms.steps.split_steps), the
form the PRMs trained here were trained on; the scorer then renders them with its marker.

Pure: the GPU worker calls these with the checks' results and records a few `RewardRecord`s
per logging step, so that what the policy was rewarded for can be read back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from algorithms.answers import extract_answer
from algorithms.steps import split_steps

Aggregation = Literal["min", "last", "product"]
AGGREGATIONS: tuple[str, ...] = ("min", "last", "product")
MAX_WEIGHT = 100.0
RECORDED_TEXT_CHARS = 2000  # a recorded completion or step is cut to this many characters
RECORDED_PER_STEP = 8  # completions recorded per logging step: one group
# Checks many (predicted, truth) answer pairs at once: algorithms.answers.answers_equivalent_many.
EquivalentMany = Callable[[Sequence[tuple[str, str]]], list[bool]]


class RewardError(ValueError):
    """A reward setting that cannot work; the message starts with the field to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RewardSpec:
    """How a completion is rewarded: the weights of outcome and process, and how step scores
    are reduced to one process score."""

    outcome_weight: float = 1.0
    process_weight: float = 0.0
    aggregation: Aggregation = "min"

    def __post_init__(self) -> None:
        for name in ("outcome_weight", "process_weight"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise RewardError(name, f"expected a number, got {value!r}")
            if not 0.0 <= value <= MAX_WEIGHT:  # also refuses NaN
                raise RewardError(name, f"{value} is not between 0 and {MAX_WEIGHT:g}")
        if self.outcome_weight == 0 and self.process_weight == 0:
            raise RewardError("outcome_weight", "give the outcome or the process a weight above 0")
        if self.aggregation not in AGGREGATIONS:
            raise RewardError(
                "aggregation", f"{self.aggregation!r} is not one of {', '.join(AGGREGATIONS)}"
            )

    @property
    def uses_process(self) -> bool:
        return self.process_weight > 0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RewardSpec:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise RewardError(unknown[0], f"unknown reward setting; use {', '.join(sorted(names))}")
        values = dict(params)
        for name in ("outcome_weight", "process_weight"):  # JSON may give a whole number
            if isinstance(values.get(name), int) and not isinstance(values[name], bool):
                values[name] = float(values[name])
        return cls(**values)

    def as_params(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, prm: str | None = None) -> str:
        """E.g. "answer check x1 + min of tiny prm@v1 x0.5"."""
        parts = []
        if self.outcome_weight:
            parts.append(f"answer check x{self.outcome_weight:g}")
        if self.process_weight:
            parts.append(f"{self.aggregation} of {prm or 'the PRM'} x{self.process_weight:g}")
        return " + ".join(parts)


def answer_verdicts(
    texts: Sequence[str], truths: Sequence[str | None], equivalent: EquivalentMany
) -> list[tuple[str | None, bool | None]]:
    """(final answer, whether it matches the truth) per text, the pairs checked in one call;
    correctness is None without an answer or without a truth."""
    answers = [extract_answer(text) for text in texts]
    todo = [i for i, truth in enumerate(truths) if answers[i] and truth and truth.strip()]
    verdicts = equivalent([(answers[i] or "", truths[i] or "") for i in todo]) if todo else []
    graded: list[tuple[str | None, bool | None]] = [(answer, None) for answer in answers]
    for i, verdict in zip(todo, verdicts, strict=True):
        graded[i] = (answers[i], verdict)
    return graded


def outcome_reward(correct: bool | None) -> float:
    """1 for an answer equivalent to the problem's, else 0 (wrong, or no answer given)."""
    return 1.0 if correct is True else 0.0


def process_reward(step_scores: Sequence[float] | None, aggregation: Aggregation) -> float | None:
    """The step scores reduced to one; None when there is no score to reduce."""
    if not step_scores:
        return None
    if aggregation == "min":
        return float(min(step_scores))
    if aggregation == "last":
        return float(step_scores[-1])
    if aggregation == "product":
        return float(math.prod(step_scores))
    raise RewardError("aggregation", f"{aggregation!r} is not one of {', '.join(AGGREGATIONS)}")


def total_reward(outcome: float, process: float | None, spec: RewardSpec) -> float:
    """The weighted sum; a process the PRM could not score counts as 0."""
    return spec.outcome_weight * outcome + spec.process_weight * (process or 0.0)


def prm_steps(completion: str, marker: str) -> list[str] | None:
    """The completion's steps as the PRM reads them; None when a step contains the PRM's
    marker (the scorers refuse such a step rather than read an altered one)."""
    steps = split_steps(completion)
    if marker and any(marker in step for step in steps):
        return None
    return steps


@dataclass(frozen=True)
class RewardRecord:
    """The inputs and outputs of one completion's reward, as recorded for inspection."""

    problem_id: int
    completion: str
    answer: str | None  # the final answer read from the completion
    truth: str | None  # the problem's answer
    correct: bool | None
    steps: tuple[str, ...]  # as the PRM read them (empty without a PRM, or when it could not)
    step_scores: tuple[float, ...] | None  # None: not scored by a PRM
    outcome: float
    process: float | None
    reward: float

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["completion"] = _clip(self.completion)
        data["steps"] = [_clip(step) for step in self.steps]
        data["step_scores"] = None if self.step_scores is None else list(self.step_scores)
        return data


def reward_record(
    *,
    problem_id: int,
    completion: str,
    answer: str | None,
    truth: str | None,
    correct: bool | None,
    steps: Sequence[str] | None,
    step_scores: Sequence[float] | None,
    spec: RewardSpec,
) -> RewardRecord:
    """One completion's reward from the answer check's verdict and the PRM's step scores."""
    outcome = outcome_reward(correct)
    process = process_reward(step_scores, spec.aggregation) if spec.uses_process else None
    return RewardRecord(
        problem_id=problem_id,
        completion=completion,
        answer=answer,
        truth=truth,
        correct=correct,
        steps=tuple(steps or ()),
        step_scores=None if step_scores is None else tuple(float(s) for s in step_scores),
        outcome=outcome,
        process=process,
        reward=total_reward(outcome, process, spec),
    )


def recorded_sample(
    records: Sequence[RewardRecord], group_size: int, limit: int = RECORDED_PER_STEP
) -> list[RewardRecord]:
    """What a logging step keeps: the completions of the batch's first group (a group's
    rewards side by side show the spread the advantages come from), at most `limit`."""
    return list(records[: min(group_size, limit)])


def _clip(text: str) -> str:
    if len(text) <= RECORDED_TEXT_CHARS:
        return text
    return text[:RECORDED_TEXT_CHARS] + " […]"
