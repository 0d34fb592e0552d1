"""Built-in prompt texts a project can install and then edit (each edit is a new version)."""

from annotation.llm.models import PromptPurpose

EXPAND_PROMPT = """\
Below is a math problem and the notes a person wrote while solving it for the first time: \
every attempt, check, dead end and correction, in order.

Rewrite the notes as one long, continuous line of reasoning, following three principles:

1. Finer granularity: break the work into many small steps, one idea per paragraph, and leave \
no step implicit.
2. Frequent pauses: after each few steps, stop and reflect on what is known so far, whether it \
is right, and what to try next ("Wait, let me check...", "So far we know...").
3. First encounter: write in the voice of someone meeting this problem for the first time, \
thinking aloud, not of someone presenting a finished solution.

Keep every attempt and every correction of the notes, including the wrong ones and how they \
were noticed; do not add facts the notes do not support. Separate paragraphs with a blank line \
and end with the final answer as \\boxed{...}.

Problem:
{{ problem }}

Notes:
{{ record }}
"""

RATIONALIZE_PROMPT = """\
Solve the math problem step by step. The correct final answer is given; write the reasoning \
that leads to it without mentioning that it was given. Put each step in its own paragraph, \
separated by a blank line, and end with the final answer as \\boxed{...}.

Problem:
{{ problem }}

Final answer: {{ answer }}
"""

SAMPLE_PROMPT = """\
Solve the math problem step by step. Put each step in its own paragraph, separated by a blank \
line, and end with the final answer as \\boxed{...}.

Problem:
{{ problem }}
"""

REWRITE_PROMPT = """\
Rewrite the following reasoning about a math problem so that it reads as one fluent train of \
thought. Keep every step, every mistake, every reflection and every correction, in the same \
order: each wrong answer that was tried must still be stated, each "wait" must still be there, \
and the final answer must stay the same, as \\boxed{...}. Do not add new steps.

Problem:
{{ problem }}

Reasoning:
{{ draft }}

Rewritten reasoning:
"""

DEFAULT_PROMPTS: list[tuple[str, str, str]] = [
    ("o1-journey expansion", PromptPurpose.EXPAND, EXPAND_PROMPT),
    ("star rationalization", PromptPurpose.RATIONALIZE, RATIONALIZE_PROMPT),
    ("step-by-step solution", PromptPurpose.SAMPLE, SAMPLE_PROMPT),
    ("long-thought rewrite", PromptPurpose.REWRITE, REWRITE_PROMPT),
]


# The demo's model configs (load_demo) are named so: a tiny model with random weights, built on
# the machine by `make run`. Pages that show its text say that the text is noise.
DEMO_MODEL_PREFIX = "demo-tiny"


def is_demo_model(label: str) -> bool:
    """Whether a job's model label (`name@vN`, or `a@v1 + b@v1`) names a demo model."""
    return any(part.strip().startswith(DEMO_MODEL_PREFIX) for part in label.split("+"))
