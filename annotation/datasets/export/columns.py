"""What each column of each export format means, as the export's README.md says it.

One entry per format of the formats' table (formats.py EXPORT_FORMATS), keyed by its name; a
format with Monte-Carlo soft labels adds or changes columns under `<format>:soft`. Whoever adds
or changes a format's row adds or changes its columns here: tests/exports/test_readme.py fails
on a column a format writes that is not described.
"""

from __future__ import annotations

from typing import Final

# How a label of a step-label format was made from the ternary grade (+1 / 0 / -1), for the
# columns that hold one; the README adds how the export's own zero_is option counted 0.
_BINARY = "one per step, true for a good step and false for a bad one"
_CHAT = "a list of chat messages {role, content}"

FORMAT_COLUMNS: Final[dict[str, dict[str, str]]] = {
    "trl-stepwise": {
        "prompt": "the problem's text",
        "completions": "the steps of the solution, in order, one string each; a rated "
        "alternative is a row of its own: the steps before it, then it (unless "
        "chosen_path_only)",
        "labels": f"{_BINARY} (TRL's stepwise-supervision labels); only graded steps, up to "
        "the first -1 (after_error=drop)",
    },
    "trl-stepwise:soft": {
        "labels": "one per step: the probability that the step is good, in [0, 1] "
        "(Monte-Carlo rollouts: the share of completions from it that reached the answer)",
    },
    "openr": {
        "question": "the problem's text",
        "process": "the steps, each followed by OpenR's step tag (five newlines)",
        "label": "one per step: '+' for a good step, '-' for a bad one",
    },
    "qwen-prm": {
        "messages": f"{_CHAT}: the system prompt, the problem, and the steps of the assistant "
        "turn each followed by <extra_0>",
        "labels": "one per <extra_0>: 1 for a good step, 0 for a bad one",
    },
    "math-shepherd": {
        "input": "the problem and the steps, each step ending with the tag ки",
        "label": "the same text with each ки replaced by + (good) or - (bad)",
        "task": "the dataset the problem comes from (Math-Shepherd's task column)",
    },
    "math-shepherd:soft": {
        "soft_labels": "one per step: the probability that the step is good, in [0, 1] "
        "(Monte-Carlo rollouts)",
    },
    "prm800k": {
        "labeler": "who graded the steps: an opaque id, stable per project and person "
        "(never a username); a model run's source name",
        "timestamp": "when the grading was submitted, UTC, as PRM800K writes it "
        "(2022-07-30T23:23:32.118856)",
        "generation": "PRM800K's generation number of the solution (null for native traces)",
        "is_quality_control_question": "whether the item was a quality-control item",
        "is_initial_screening_question": "whether the item was a screening item",
        "question": "{problem, ground_truth_answer, ...}: the problem and its known answer",
        "label": "{steps, total_time, finish_reason}: per step the completions offered "
        "(a list) {text, rating (+1, 0, -1 or null where unrated), flagged (a boolean)}, the "
        "index of the chosen one, and a human completion where the annotator wrote the "
        "step; total_time in milliseconds",
    },
    "processbench": {
        "id": "the item's id",
        "generator": "the model (or person) that wrote the solution",
        "problem": "the problem's text",
        "steps": "the steps of the solution, one string each (for PRM800K's found_error, "
        "the path, then the wrong completion offered after it)",
        "final_answer_correct": "whether the solution's final answer matches the problem's "
        "(null when the last step is an off-path error step)",
        "label": "the index (from 0) of the first step graded -1, or -1 when every step is "
        "graded and none is -1 (a trace with an ungraded step before any error is left out)",
    },
    "sft-shortcut": {
        "messages": f"{_CHAT}: the prompt as user, a correct solution (ending with its boxed "
        "answer) as assistant",
    },
    "sft-journey": {
        "messages": f"{_CHAT}: the prompt as user, a long thought with its attempts, "
        "reflections and backtracks (ending with its boxed answer) as assistant",
    },
    "sft-paired": {
        "messages": f"{_CHAT}; the two files hold a shortcut and a journey of the same "
        "problems, row for row",
    },
    "dpo": {
        "prompt": f"{_CHAT}: the prompt the samples were generated from, as user",
        "chosen": f"{_CHAT}: a correct sample, as assistant",
        "rejected": f"{_CHAT}: an incorrect sample of the same problem, as assistant",
    },
    "math": {
        "problem": "the problem's text",
        "solution": "its reference solution",
        "answer": "its final answer",
        "subject": "MATH's subject",
        "level": "MATH's difficulty level, 1 to 5",
        "unique_id": "the problem's id in the project (MATH's unique_id)",
    },
    "gsm8k": {
        "question": "the problem's text",
        "answer": "its reference solution, ending with #### and the answer",
    },
}

# The formats whose labels come from the ternary grade: their README says how 0 was counted.
STEP_LABEL_FORMATS: Final[frozenset[str]] = frozenset(
    {"trl-stepwise", "openr", "qwen-prm", "math-shepherd"}
)


def columns_of(format_name: str, *, soft: bool = False) -> dict[str, str]:
    """The columns of a format's rows with their meaning (soft labels: the soft variant)."""
    columns = dict(FORMAT_COLUMNS.get(format_name, {}))
    if soft:
        columns.update(FORMAT_COLUMNS.get(f"{format_name}:soft", {}))
    return columns
