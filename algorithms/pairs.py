"""Preference pairs for DPO, as the O1-Journey recipe builds them: per problem, up to k distinct
correct and k distinct incorrect responses, paired one to one (5 + 5 → 5 pairs), so no response
is used twice."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def distinct(items: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
    """The first item of each key, in order."""
    seen: set[Hashable] = set()
    kept = []
    for item in items:
        if (identity := key(item)) not in seen:
            seen.add(identity)
            kept.append(item)
    return kept


def sample_dpo_pairs(
    correct: Sequence[T],
    incorrect: Sequence[T],
    *,
    k: int = 5,
    seed: int,
    key: Callable[[T], Hashable] = lambda item: item,
) -> list[tuple[T, T]]:
    """min(k, distinct correct, distinct incorrect) (chosen, rejected) pairs, the same for the
    same `seed`: every chosen response differs from the others, and so does every rejected one
    (responses are the same when `key` says so)."""
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    chosen_pool = distinct(correct, key)
    rejected_pool = distinct(incorrect, key)
    count = min(k, len(chosen_pool), len(rejected_pool))
    rng = random.Random(seed)
    return list(zip(rng.sample(chosen_pool, count), rng.sample(rejected_pool, count), strict=True))
