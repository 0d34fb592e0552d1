"""PRM scoring: every step in one batched forward pass vs one forward pass per step prefix.

The per-prefix baseline is how a reward worker that scores each partial solution separately
(e.g. OpenR's) spends compute. Both run in this process on the same tiny Math-Shepherd model.
Run: python bench/prm_scoring.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for `workers`

from workers.backends.base import ScoreItem
from workers.backends.prm_scorers import MathShepherdScorer
from workers.testing.tiny_models import build_tiny_prm

SOLUTIONS = 200
STEPS = 10
BATCH_SIZE = 16
ROUNDS = 3  # each mode runs this many times, alternating; the median counts


def ten_step_solutions(count: int, steps: int, *, seed: int = 0) -> list[ScoreItem]:
    rng = random.Random(seed)
    items = []
    for _ in range(count):
        total = rng.randint(1, 50)
        lines = []
        for number in range(1, steps + 1):
            add = rng.randint(1, 50)
            lines.append(
                f"Step {number}: {total} + {add} = {total + add}, so we have {total + add}."
            )
            total += add
        items.append(ScoreItem(f"Start with {lines[0].split()[2]} and keep adding. Total?", lines))
    return items


def timed(run: Callable[[], list[list[float]]]) -> tuple[float, list[list[float]]]:
    start = time.perf_counter()
    scores = run()
    return time.perf_counter() - start, scores


def median_timed(
    runs: dict[str, Callable[[], list[list[float]]]],
) -> dict[str, tuple[float, list[list[float]]]]:
    """Alternate the modes ROUNDS times, so that machine noise hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    scores: dict[str, list[list[float]]] = {}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            seconds, scores[name] = timed(run)
            times[name].append(seconds)
    return {name: (statistics.median(times[name]), scores[name]) for name in runs}


def main() -> None:
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as directory:
        model_path = build_tiny_prm(Path(directory) / "prm", "math-shepherd", seed=0)
        scorer = MathShepherdScorer(model_path, batch_size=BATCH_SIZE)
        items = ten_step_solutions(SOLUTIONS, STEPS)
        scorer.score(items)  # warm-up: the kernels for each batch shape
        results = median_timed(
            {
                "one_pass": lambda: scorer.score(items),
                "per_prefix": lambda: scorer.score_each_prefix(items),
            }
        )
        one_pass_s, one_pass = results["one_pass"]
        per_prefix_s, per_prefix = results["per_prefix"]

    max_difference = max(
        abs(a - b)
        for row_a, row_b in zip(one_pass, per_prefix, strict=True)
        for a, b in zip(row_a, row_b, strict=True)
    )
    speedup = per_prefix_s / one_pass_s
    print(f"{SOLUTIONS} solutions x {STEPS} steps, tiny Math-Shepherd PRM on CPU")
    print(f"median of {ROUNDS} alternating runs each")
    print(f"one pass, batches of {BATCH_SIZE}: {one_pass_s:.3f} s")
    print(f"one forward pass per step prefix: {per_prefix_s:.3f} s ({SOLUTIONS * STEPS} passes)")
    print(f"speedup: {speedup:.1f}x; largest score difference: {max_difference:.2e}")
    print(
        json.dumps(
            {
                "speedup": round(speedup, 2),
                "one_pass_s": round(one_pass_s, 4),
                "per_prefix_s": round(per_prefix_s, 4),
                "solutions": SOLUTIONS,
                "steps": STEPS,
                "batch_size": BATCH_SIZE,
                "rounds": ROUNDS,
                "max_score_difference": max_difference,
            }
        )
    )


if __name__ == "__main__":
    main()
