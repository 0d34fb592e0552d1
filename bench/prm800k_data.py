"""Generated PRM800K-shaped label rows for the import and export benchmarks."""

import json
import random
from pathlib import Path
from typing import Any

STEPS_PER_TRACE = 10


def write_prm800k_file(path: Path, traces: int, *, problems: int, seed: int = 0) -> int:
    """`traces` rows of 10 steps over `problems` problems; 1 in 20 steps is rated -1, the
    last step states an answer, wrong for about a third of the rows. Returns the steps."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for t in range(traces):
            problem = t % problems
            completions: list[dict[str, Any]] = [
                {
                    "text": f"Step {s} of solution {seed}-{t}: {rng.random():.6f} + x",
                    "rating": -1 if rng.random() < 0.05 else rng.choice([0, 1, 1]),
                    "flagged": False,
                }
                for s in range(STEPS_PER_TRACE)
            ]
            answer = problem if rng.random() < 0.7 else problem + rng.randint(1, 9)
            completions[-1]["text"] += f"\n\n# Answer\n\n{answer}"
            steps = [
                {"completions": [c], "human_completion": None, "chosen_completion": 0}
                for c in completions
            ]
            row = {
                "labeler": f"labeler-{t % 37}",
                "timestamp": "2022-07-30T23:23:32.118856",
                "generation": t % 10,
                "is_quality_control_question": False,
                "is_initial_screening_question": False,
                "question": {
                    "problem": f"Problem {problem}: find x.",
                    "ground_truth_answer": str(problem),
                },
                "label": {"steps": steps, "total_time": 1000 + t, "finish_reason": "solution"},
            }
            out.write(json.dumps(row) + "\n")
    return traces * STEPS_PER_TRACE
