"""Automatic process supervision by Monte-Carlo rollouts (Math-Shepherd, OmegaPRM).

A step is judged by what the policy can still do after it: complete the solution from the prefix
that ends on the step, several times, and count how often the ground-truth answer comes out.
Prefixes are named by their length: prefix ``i`` holds steps ``0 .. i-1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StepLabel:
    step_index: int  # 0-based; the label is for the prefix that ends on this step
    reached: int  # rollouts that reached the ground-truth answer
    rollouts: int

    @property
    def hard(self) -> bool:
        """Math-Shepherd's hard estimate: good if any rollout reached the answer."""
        return self.reached > 0

    @property
    def soft(self) -> float:
        """Math-Shepherd's soft estimate: the fraction of rollouts that reached the answer."""
        return self.reached / self.rollouts


def mc_step_labels(
    n_steps: int, rollout: Callable[[list[int]], list[list[bool]]], n: int
) -> list[StepLabel]:
    """Label every step from ``n`` rollouts per prefix, all prefixes in one ``rollout`` call.

    ``rollout(prefix_lengths)`` returns, for each prefix length, whether each of its ``n``
    completions reached the ground-truth answer.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if n_steps == 0:
        return []
    prefix_lengths = list(range(1, n_steps + 1))
    outcomes = rollout(prefix_lengths)
    if len(outcomes) != n_steps or any(len(reached) != n for reached in outcomes):
        raise ValueError(f"rollout must return {n} outcomes for each of {n_steps} prefixes")
    return [
        StepLabel(step_index=length - 1, reached=sum(reached), rollouts=n)
        for length, reached in zip(prefix_lengths, outcomes, strict=True)
    ]


def first_error_binary_search(
    n_steps: int, rollout_one: Callable[[int], list[bool]]
) -> tuple[int, int]:
    """OmegaPRM's binary search for the first wrong step.

    Assumes monotonicity: once a prefix can no longer reach the answer, no longer prefix can.
    Returns (index of the first step whose prefix fails, or -1 if none fails; number of
    prefixes rolled out), which is at most ``n_steps.bit_length()``.
    """
    low, high = 1, n_steps
    first_failing_length = 0
    evaluated = 0
    while low <= high:
        middle = (low + high) // 2
        evaluated += 1
        if any(rollout_one(middle)):
            low = middle + 1
        else:
            first_failing_length = middle
            high = middle - 1
    return first_failing_length - 1, evaluated


def first_error_linear(n_steps: int, rollout_one: Callable[[int], list[bool]]) -> tuple[int, int]:
    """The baseline: roll out prefixes from the shortest until one fails; same return value."""
    for length in range(1, n_steps + 1):
        if not any(rollout_one(length)):
            return length - 1, length
    return -1, n_steps
