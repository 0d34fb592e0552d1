"""The inputs process reward models were trained on, as their model cards write them.

Math-Shepherd (peiyi9979/math-shepherd-mistral-7b-prm): the question, a space, then the steps
one per line, each ``Step i: <text> ки``; the model's ``+``/``-`` logits at each ``ки`` tag
score the step, and its training data replaces each tag with the label. Qwen2.5-Math-PRM: a chat
with the card's system prompt, the question as the user turn and the steps as the assistant
turn, each followed by ``<extra_0>``. A model config may change the step template (its options
``step_template``, with ``{number}``, ``{step}`` and ``{tag}``) or the system prompt
(``system_prompt``) for a model trained on another form; the defaults match the cards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MATH_SHEPHERD_TAG = "ки"
MATH_SHEPHERD_STEP_TEMPLATE = "Step {number}: {step} {tag}"
_PLACEHOLDER = re.compile(r"\{(number|step|tag)\}")
QWEN_PRM_SEPARATOR = "<extra_0>"
QWEN_PRM_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


def check_step_template(template: str) -> None:
    for placeholder in ("{step}", "{tag}"):
        if placeholder not in template:
            raise ValueError(f"the step template {template!r} must contain {placeholder}")


def math_shepherd_input(
    problem: str,
    steps: Sequence[str],
    *,
    tag: str = MATH_SHEPHERD_TAG,
    step_template: str = MATH_SHEPHERD_STEP_TEMPLATE,
    marks: Sequence[str] | None = None,
) -> str:
    """The scorer's input; with ``marks`` (one per step, e.g. ``+``/``-``) in place of the
    tags, the labelled text of a Math-Shepherd training row."""
    check_step_template(step_template)
    if marks is not None and len(marks) != len(steps):
        raise ValueError(f"{len(marks)} marks for {len(steps)} steps")
    lines = [
        _fill(
            step_template,
            {
                "number": str(number),
                "step": step,
                "tag": marks[number - 1] if marks is not None else tag,
            },
        )
        for number, step in enumerate(steps, start=1)
    ]
    return f"{problem} " + "\n".join(lines)


def _fill(template: str, values: dict[str, str]) -> str:
    """Placeholders filled in one pass, never str.format (a template is user input, and a
    step's text may contain braces)."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def qwen_prm_messages(
    problem: str,
    steps: Sequence[str],
    *,
    separator: str = QWEN_PRM_SEPARATOR,
    system_prompt: str = QWEN_PRM_SYSTEM_PROMPT,
) -> list[dict[str, str]]:
    """The conversation the tokenizer's chat template renders for the scorer."""
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": problem},
        {"role": "assistant", "content": "".join(f"{step}{separator}" for step in steps)},
    ]
