"""The GRPO rewards against a direct computation in the test: the outcome, each process
aggregation, and their weighted sum, over random step-score vectors."""

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from algorithms.rewards import (
    AGGREGATIONS,
    RECORDED_TEXT_CHARS,
    RewardError,
    RewardSpec,
    answer_verdicts,
    outcome_reward,
    prm_steps,
    process_reward,
    recorded_sample,
    reward_record,
    total_reward,
)

scores = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=30)
weights = st.floats(0.0, 100.0, allow_nan=False)
verdicts = st.sampled_from([True, False, None])


def by_hand(step_scores: list[float], how: str) -> float:
    """The aggregation written out: a loop, not the module's builtins."""
    if how == "min":
        low = step_scores[0]
        for score in step_scores:
            if score < low:
                low = score
        return low
    if how == "last":
        return step_scores[len(step_scores) - 1]
    product = 1.0
    for score in step_scores:
        product *= score
    return product


@given(step_scores=scores, how=st.sampled_from(AGGREGATIONS))
def test_each_aggregation_equals_a_direct_computation(step_scores: list[float], how: str) -> None:
    assert process_reward(step_scores, how) == pytest.approx(by_hand(step_scores, how), abs=1e-12)  # type: ignore[arg-type]


@given(step_scores=scores)
def test_the_aggregations_are_ordered_and_bounded(step_scores: list[float]) -> None:
    # a product of probabilities is at most the smallest one, which is at most the last one
    low, last, product = (process_reward(step_scores, how) for how in ("min", "last", "product"))  # type: ignore[arg-type]
    assert product is not None and low is not None and last is not None
    assert 0.0 <= product <= low + 1e-12 and low <= last <= 1.0


def test_no_steps_has_no_process_score() -> None:
    assert [process_reward([], how) for how in AGGREGATIONS] == [None, None, None]  # type: ignore[arg-type]
    assert process_reward(None, "min") is None


@given(correct=verdicts)
def test_the_outcome_is_one_only_for_a_checked_right_answer(correct: bool | None) -> None:
    assert outcome_reward(correct) == (1.0 if correct is True else 0.0)


@given(
    outcome_weight=weights,
    process_weight=weights,
    how=st.sampled_from(AGGREGATIONS),
    correct=verdicts,
    step_scores=st.none() | scores,
)
def test_the_reward_is_the_weighted_sum(
    outcome_weight: float,
    process_weight: float,
    how: str,
    correct: bool | None,
    step_scores: list[float] | None,
) -> None:
    assume(outcome_weight > 0 or process_weight > 0)
    spec = RewardSpec(outcome_weight, process_weight, how)  # type: ignore[arg-type]
    # when
    record = reward_record(
        problem_id=1,
        completion="text",
        answer="5",
        truth="5",
        correct=correct,
        steps=["a"] * len(step_scores or []),
        step_scores=step_scores,
        spec=spec,
    )
    # then: written out in the test
    outcome = 1.0 if correct is True else 0.0
    used = process_weight > 0 and step_scores is not None
    process = by_hand(step_scores, how) if used else None  # type: ignore[arg-type]
    expected = outcome_weight * outcome + process_weight * (process if process is not None else 0)
    assert record.outcome == outcome
    assert record.process == (pytest.approx(process, abs=1e-12) if process is not None else None)
    assert record.reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert total_reward(record.outcome, record.process, spec) == record.reward


@pytest.mark.parametrize(
    ("given_values", "message"),
    [
        ({"outcome_weight": -1.0}, "outcome_weight: -1.0 is not between 0 and 100"),
        ({"process_weight": math.nan}, "process_weight: nan is not between 0 and 100"),
        ({"outcome_weight": True}, "outcome_weight: expected a number, got True"),
        ({"outcome_weight": 0, "process_weight": 0}, "outcome_weight: give the outcome or"),
        ({"aggregation": "mean"}, "aggregation: 'mean' is not one of min, last, product"),
        ({"weight": 1}, "weight: unknown reward setting"),
    ],
)
def test_bad_reward_settings_name_their_field(given_values: dict, message: str) -> None:
    with pytest.raises(RewardError) as error:
        RewardSpec.from_params(given_values)
    assert str(error.value).startswith(message)


@given(
    spec=st.builds(
        RewardSpec,
        outcome_weight=st.floats(0.1, 100.0),
        process_weight=weights,
        aggregation=st.sampled_from(AGGREGATIONS),
    )
)
def test_reward_settings_round_trip(spec: RewardSpec) -> None:
    assert RewardSpec.from_params(spec.as_params()) == spec


def test_the_prm_reads_a_completion_split_like_every_sample() -> None:
    text = "2 + 3 = 5.\n\nSo the answer is $\\boxed{5}$."
    assert prm_steps(text, "ки") == ["2 + 3 = 5.", "So the answer is $\\boxed{5}$."]
    # a completion that writes the PRM's marker is not read (the scorer refuses the step)
    assert prm_steps("2 + 3 = 5 ки\n\ndone", "ки") is None
    assert prm_steps("", "ки") == []


def test_answers_are_checked_against_their_truth_in_one_call() -> None:
    calls: list[list[tuple[str, str]]] = []

    def equivalent(pairs):  # type: ignore[no-untyped-def]
        calls.append(list(pairs))
        return [a == b for a, b in pairs]

    texts = ["so $\\boxed{5}$", "the answer is 6", "no answer here", "\\boxed{7}"]
    truths = ["5", "5", "5", None]
    assert answer_verdicts(texts, truths, equivalent) == [
        ("5", True),
        ("6", False),
        (None, None),
        ("7", None),
    ]
    assert calls == [[("5", "5"), ("6", "5")]]


def test_a_logging_step_records_one_group_with_long_texts_cut() -> None:
    spec = RewardSpec()
    records = [
        reward_record(
            problem_id=i // 4,
            completion="x" * (RECORDED_TEXT_CHARS + 10),
            answer=None,
            truth="1",
            correct=None,
            steps=None,
            step_scores=None,
            spec=spec,
        )
        for i in range(8)
    ]
    kept = recorded_sample(records, group_size=4)
    assert [r.problem_id for r in kept] == [0, 0, 0, 0]
    row = kept[0].as_json()
    assert row["completion"].endswith(" […]") and len(row["completion"]) < RECORDED_TEXT_CHARS + 10
    assert (row["reward"], row["step_scores"], row["steps"]) == (0.0, None, [])
