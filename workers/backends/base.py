"""Interfaces every model backend implements; free of torch, transformers and vllm imports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, TypedDict

from algorithms.sampling import SamplingParams

FinishReason = Literal["stop", "length"]


class BackendError(Exception):
    """A model backend failed; `retryable` says whether trying the same call again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ScorerError(BackendError):
    """A scorer could not produce exactly one score per step."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message, retryable=retryable)


@dataclass(frozen=True)
class Generation:
    text: str
    token_count: int
    finish_reason: FinishReason


def finish_reason_from(reason: str | None, *, source: str) -> FinishReason:
    """Map an engine's finish reason; an aborted or filtered request may pass on a retry."""
    if reason == "stop":
        return "stop"
    if reason == "length":
        return "length"
    raise BackendError(f"{source} request ended with finish reason {reason!r}", retryable=True)


class ChatMessage(TypedDict):
    role: str
    content: str


class Generator(Protocol):
    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Generation]]:
        """Return `params.n` generations for each prompt, in prompt order."""
        ...

    def generate_chat(
        self, messages_list: Sequence[Sequence[ChatMessage]], params: SamplingParams
    ) -> list[list[Generation]]:
        """Like `generate`, for conversations rendered with the model's chat template."""
        ...


class ScoreItem(NamedTuple):
    problem: str
    steps: list[str]


class StepScorer(Protocol):
    def score(self, items: Sequence[ScoreItem]) -> list[list[float]]:
        """Return one score in [0, 1] per step of each item; raise ScorerError otherwise."""
        ...


def check_one_score_per_step(
    items: Sequence[ScoreItem], scores: Sequence[Sequence[float]]
) -> list[list[float]]:
    """Guard every scorer's output: exactly one score per step, for every item."""
    if len(scores) != len(items):
        raise ScorerError(f"scorer returned {len(scores)} score lists for {len(items)} items")
    for index, (item, item_scores) in enumerate(zip(items, scores, strict=True)):
        if len(item_scores) != len(item.steps):
            raise ScorerError(
                f"item {index}: {len(item_scores)} scores for {len(item.steps)} steps"
            )
    return [list(item_scores) for item_scores in scores]
