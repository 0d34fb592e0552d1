from __future__ import annotations

import pytest

from workers.backends.base import (
    BackendError,
    SamplingParams,
    ScoreItem,
    ScorerError,
    check_one_score_per_step,
    finish_reason_from,
)


def test_one_score_per_step_passes_matching_scores_through() -> None:
    items = [ScoreItem("p", ["a", "b"]), ScoreItem("q", [])]

    assert check_one_score_per_step(items, [(0.5, 0.25), ()]) == [[0.5, 0.25], []]


def test_a_missing_step_score_is_a_scorer_error() -> None:
    items = [ScoreItem("p", ["a"]), ScoreItem("q", ["a", "b", "c"])]

    with pytest.raises(ScorerError, match="item 1: 2 scores for 3 steps") as caught:
        check_one_score_per_step(items, [[0.5], [0.1, 0.2]])

    assert caught.value.retryable is False


def test_a_missing_item_is_a_scorer_error() -> None:
    with pytest.raises(ScorerError, match="1 score lists for 2 items"):
        check_one_score_per_step([ScoreItem("p", ["a"]), ScoreItem("q", ["a"])], [[0.5]])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n": 0}, "n must be at least 1"),
        ({"max_tokens": 0}, "max_tokens must be at least 1"),
        ({"temperature": -0.1}, "temperature must not be negative"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ],
)
def test_sampling_params_reject_impossible_values(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingParams(**fields)  # type: ignore[arg-type]


def test_unknown_finish_reason_is_a_retryable_error() -> None:
    assert finish_reason_from("stop", source="vLLM") == "stop"
    assert finish_reason_from("length", source="vLLM") == "length"
    with pytest.raises(BackendError, match="vLLM request ended with finish reason 'abort'") as e:
        finish_reason_from("abort", source="vLLM")
    assert e.value.retryable is True
