"""Preference pairs for DPO: a correct and an incorrect solution of the same problem."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def sample_dpo_pairs(
    correct: Sequence[T], incorrect: Sequence[T], *, k: int = 5, seed: int
) -> list[tuple[T, T]]:
    """Up to `k` distinct random (chosen, rejected) pairs, the same for the same `seed`.

    Pairs are distinct by position, so equal texts at different positions may both appear.
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    pair_count = len(correct) * len(incorrect)
    # Sampling flat indices without replacement never repeats a pair and never loops.
    flat_indices = random.Random(seed).sample(range(pair_count), min(k, pair_count))
    return [
        (correct[flat // len(incorrect)], incorrect[flat % len(incorrect)]) for flat in flat_indices
    ]
