"""PRM800K's real phase-1 row (../shared/data/prm800k) and the row PRM800K's schema holds of
the labeling the workspace tests do on it: rate every step and alternative, choose the
second alternative at step 6, write one's own step 7."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import PRM800K_DIR

PHASE1: dict[str, Any] = json.loads(
    (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_text().splitlines()[0]
)
OWN_STEP = "In cents, a pencil costs $29$.\n\n# Answer\n\n29"
STEP_6_RATINGS = [0, 1, 1, 1, -1]  # of the five completions at step 6, in their order
CHOSEN_AT_STEP_6 = 1


def _rated(text: str, rating: int | None) -> dict[str, Any]:
    return {"text": text, "rating": rating, "flagged": None}


def _human(text: str, rating: int | None) -> dict[str, Any]:
    return {"text": text, "rating": rating, "flagged": None, "source": "human"}


def expected_row(*, labeler: str, timestamp: str, total_time: int) -> dict[str, Any]:
    """The annotator's row: their ratings, their choice, their own step; no flag (Stepwise
    has none to set), the question and generation of the row they labeled."""
    label = PHASE1["label"]["steps"]

    def single(step: dict[str, Any]) -> dict[str, Any]:
        completion = _rated(step["completions"][0]["text"], 1)
        return {"completions": [completion], "human_completion": None, "chosen_completion": 0}

    return {
        "labeler": labeler,
        "timestamp": timestamp,
        "generation": None,
        "is_quality_control_question": False,
        "is_initial_screening_question": False,
        "question": {"problem": PHASE1["question"]["problem"], "ground_truth_answer": "29"},
        "label": {
            "steps": [
                single(label[0]),
                {
                    "completions": [_rated(c["text"], -1) for c in label[1]["completions"]],
                    "human_completion": _human(label[1]["human_completion"]["text"], 1),
                    "chosen_completion": None,
                },
                single(label[2]),
                single(label[3]),
                single(label[4]),
                {
                    "completions": [
                        _rated(c["text"], r)
                        for c, r in zip(label[5]["completions"], STEP_6_RATINGS, strict=True)
                    ],
                    "human_completion": None,
                    "chosen_completion": CHOSEN_AT_STEP_6,
                },
                {
                    "completions": None,
                    "human_completion": _human(OWN_STEP, None),
                    "chosen_completion": None,
                },
            ],
            "total_time": total_time,
            "finish_reason": "solution",
        },
    }
