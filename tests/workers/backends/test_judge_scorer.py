from __future__ import annotations

from typing import Any

import pytest

from algorithms.sampling import SamplingParams
from workers.backends.base import ScoreItem, ScorerError
from workers.backends.judge_scorer import JudgeScorer, StepVerdict, judge_messages, parse_verdicts


def test_judge_prompt_numbers_the_steps() -> None:
    messages = judge_messages(ScoreItem("What is 2 + 3?", ["2 + 3 = 6.", "So 6."]))

    assert messages[0]["role"] == "system"
    assert "Step <number>: incorrect | <one-sentence reason>" in messages[0]["content"]
    assert messages[1] == {
        "role": "user",
        "content": '<problem>\nWhat is 2 + 3?\n</problem>\n\n<solution>\n<step index="1">\n'
        '2 + 3 = 6.\n</step>\n<step index="2">\nSo 6.\n</step>\n</solution>\n\n'
        "Write one verdict line for each of the 2 steps.",
    }


def test_verdict_lines_parse_into_labels_and_reasons() -> None:
    text = "Step 1: incorrect | 2 + 3 is 5, not 6.\n\nstep 2: Correct | It follows from step 1.\n"

    assert parse_verdicts(text, 2) == [
        StepVerdict(correct=False, reason="2 + 3 is 5, not 6."),
        StepVerdict(correct=True, reason="It follows from step 1."),
    ]
    assert [verdict.score for verdict in parse_verdicts(text, 2)] == [0.0, 1.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Step 1: correct | fine.", "judge wrote 1 lines for 2 steps"),
        ("Step 1: correct | fine.\nStep 2: maybe | unsure.", "judge line 2 is malformed"),
        ("Step 1: correct | fine.\nStep 3: correct | fine.", "judge line 2 is numbered 3"),
        ("Step 1: correct |\nStep 2: correct | fine.", "judge line 1 is malformed"),
    ],
)
def test_output_off_the_line_format_is_a_retryable_scorer_error(text: str, message: str) -> None:
    with pytest.raises(ScorerError, match=message) as caught:
        parse_verdicts(text, 2)

    assert caught.value.retryable is True


@pytest.mark.models
def test_judge_gives_up_with_a_scorer_error_when_the_model_ignores_the_format(
    transformers_generator: Any,
) -> None:
    # given: the random tiny model cannot follow the format
    judge = JudgeScorer(transformers_generator, SamplingParams(max_tokens=12, seed=0), attempts=2)

    # when / then
    with pytest.raises(ScorerError, match="judge output for item 0 did not parse after 2 attempts"):
        judge.score([ScoreItem("What is 2 + 3?", ["2 + 3 = 5."])])
