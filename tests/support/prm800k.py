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
    return {"text": text, "rating": rating, "flagged": False}


def _human(text: str, rating: int | None) -> dict[str, Any]:
    return {"text": text, "rating": rating, "flagged": False, "source": "human"}


def expected_row(*, labeler: str, timestamp: str, total_time: int) -> dict[str, Any]:
    """The annotator's row: their ratings, their choice, their own step (no completion
    offered there: an empty list, as TRL's conversion reads it); no flag (Stepwise has none
    to set: false), the question and generation of the row they labeled."""
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
                    "completions": [],
                    "human_completion": _human(OWN_STEP, None),
                    "chosen_completion": None,
                },
            ],
            "total_time": total_time,
            "finish_reason": "solution",
        },
    }


def trl_prm800k_conversion(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The public TRL conversion of a PRM800K row (the script published with the
    trl-lib/prm800k dataset, examples/datasets/prm800k.py in huggingface/trl), re-implemented
    from its published form: every completion not chosen at a step ends a row of its own (the
    path before it, then it; labelled rating == 1), the chosen completion (rating == 1) or
    else the human completion (True) continues the path, a step with neither stops it, and
    the path is the last row. Like the script, it fails on what PRM800K never holds (a
    human completion with `completions` null)."""
    prompt = example["question"]["problem"]
    out = []
    texts: list[str] = []
    labels: list[bool] = []
    for step in example["label"]["steps"]:
        chosen = step["chosen_completion"]
        human = step["human_completion"]
        if step["completions"] is None and human is None and chosen is None:
            break
        for index, completion in enumerate(step["completions"]):
            if index != chosen:
                out.append(
                    {
                        "prompt": prompt,
                        "completions": [*texts, completion["text"]],
                        "labels": [*labels, completion["rating"] == 1],
                    }
                )
        if chosen is not None:
            texts.append(step["completions"][chosen]["text"])
            labels.append(step["completions"][chosen]["rating"] == 1)
        elif human is not None:
            texts.append(human["text"])
            labels.append(True)
        else:
            break
    out.append({"prompt": prompt, "completions": texts, "labels": labels})
    return out
