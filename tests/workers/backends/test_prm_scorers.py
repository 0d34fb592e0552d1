from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.backends.base import BackendError, ScoreItem, ScorerError
from workers.backends.prm_scorers import MathShepherdScorer, QwenPRMScorer

pytestmark = pytest.mark.models

# Solutions of 1, 3 and 6 steps so that a batch of them needs padding.
ITEMS = [
    ScoreItem("Ann has 3 apples and gets 4 more. How many apples?", ["3 + 4 = 7, so 7 apples."]),
    ScoreItem(
        "Let x + 2 = 5. Solve for x.",
        ["Subtract 2 from both sides.", "x = 3.", "Check: 3 + 2 = 5, so $\\boxed{3}$."],
    ),
    ScoreItem(
        "Bob has 12 pens and gives away 5. Then he buys 8. How many pens?",
        [
            "Step 1: 12 - 5 = 7.",
            "Step 2: 7 + 8 = 15.",
            "Wait, check again: 12 - 5 is 7.",
            "Then 7 + 8 is 15.",
            "So the total is 15.",
            "The answer is $\\boxed{15}$.",
        ],
    ),
]


@pytest.fixture(scope="module")
def math_shepherd(math_shepherd_path: Path) -> MathShepherdScorer:
    return MathShepherdScorer(math_shepherd_path, batch_size=4)


@pytest.fixture(scope="module")
def qwen_prm(qwen_prm_path: Path) -> QwenPRMScorer:
    return QwenPRMScorer(qwen_prm_path, batch_size=4)


@pytest.fixture(params=["math_shepherd", "qwen_prm"])
def scorer(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def assert_close(actual: list[list[float]], expected: list[list[float]]) -> None:
    assert [len(scores) for scores in actual] == [len(scores) for scores in expected]
    for actual_scores, expected_scores in zip(actual, expected, strict=True):
        assert actual_scores == pytest.approx(expected_scores, abs=1e-4)


def test_one_pass_scores_equal_scores_of_each_step_prefix_alone(scorer: Any) -> None:
    # when
    one_pass = scorer.score(ITEMS)
    per_prefix = scorer.score_each_prefix(ITEMS)

    # then
    assert [len(scores) for scores in one_pass] == [1, 3, 6]
    assert_close(one_pass, per_prefix)
    all_scores = [score for scores in one_pass for score in scores]
    assert all(0.0 < score < 1.0 for score in all_scores)
    assert len({round(score, 4) for score in all_scores}) == 10


def test_padding_in_a_batch_does_not_change_scores(scorer: Any) -> None:
    # when
    batched = scorer.score(ITEMS)
    alone = [scorer.score([item])[0] for item in ITEMS]

    # then
    assert_close(batched, alone)


def test_math_shepherd_score_is_good_token_probability_at_each_tag(
    math_shepherd: MathShepherdScorer,
) -> None:
    import torch

    # given: the Math-Shepherd input written out by hand, as on the model card
    tokenizer, model = math_shepherd.tokenizer, math_shepherd.model
    text = "Let x + 2 = 5. Solve for x. Step 1: Subtract 2 from both sides. ки\nStep 2: x = 3. ки"
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    tag_positions = (ids[0] == tokenizer.convert_tokens_to_ids("ки")).nonzero().flatten()
    good, bad = tokenizer.convert_tokens_to_ids(["+", "-"])
    with torch.inference_mode():
        logits = model(ids).logits[0, tag_positions][:, [good, bad]]
    expected = logits.softmax(dim=-1)[:, 0].tolist()

    # when
    [scores] = math_shepherd.score(
        [ScoreItem("Let x + 2 = 5. Solve for x.", ["Subtract 2 from both sides.", "x = 3."])]
    )

    # then
    assert len(tag_positions) == 2
    assert scores == pytest.approx(expected, abs=1e-6)


def test_qwen_prm_input_has_a_separator_after_each_step(qwen_prm: QwenPRMScorer) -> None:
    rendered = qwen_prm.render("What is 1 + 1?", ["1 + 1 = 2.", "The answer is 2."])

    assert rendered == (
        "<|system|>\nPlease reason step by step, and put your final answer within \\boxed{}.</s>\n"
        "<|user|>\nWhat is 1 + 1?</s>\n"
        "<|assistant|>\n1 + 1 = 2.<extra_0>The answer is 2.<extra_0></s>\n"
    )


@pytest.mark.parametrize(
    ("scorer_name", "marker"), [("math_shepherd", "ки"), ("qwen_prm", "<extra_0>")]
)
def test_a_step_containing_the_marker_is_rejected(
    request: pytest.FixtureRequest, scorer_name: str, marker: str
) -> None:
    scorer = request.getfixturevalue(scorer_name)
    item = ScoreItem("What is 2 + 2?", ["2 + 2 = 4.", f"So {marker} the answer is 4."])

    with pytest.raises(ScorerError, match=f"step 2 contains the scorer's step marker '{marker}'"):
        scorer.score([item])


def test_a_marker_in_the_problem_fails_the_one_score_per_step_check(
    math_shepherd: MathShepherdScorer,
) -> None:
    item = ScoreItem("Mark each step with ки please. What is 2 + 2?", ["2 + 2 = 4."])

    with pytest.raises(ScorerError, match="item 0: 2 scores for 1 steps"):
        math_shepherd.score([item])


def test_a_solution_longer_than_max_length_is_an_error_not_truncated(
    math_shepherd_path: Path,
) -> None:
    short_scorer = MathShepherdScorer(math_shepherd_path, max_length=16)

    with pytest.raises(ScorerError, match="exceeds the scorer's max_length of 16"):
        short_scorer.score(ITEMS[2:])


def test_a_solution_without_steps_gets_no_scores(scorer: Any) -> None:
    assert scorer.score([ScoreItem("What is 2 + 2?", []), ITEMS[0]])[0] == []


def test_missing_model_is_a_non_retryable_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as caught:
        QwenPRMScorer(tmp_path / "no-such-prm")

    assert caught.value.retryable is False
