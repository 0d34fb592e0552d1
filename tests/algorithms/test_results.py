"""pass@k, majority@k and answer groups, checked against brute force."""

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms.results import (
    Sample,
    answer_groups,
    bootstrap_interval,
    majority_correct,
    pass_at_k,
    report_ks,
    summarize,
)


def exact(pairs):  # type: ignore[no-untyped-def]
    return [a == b for a, b in pairs]


@given(st.data())
def test_pass_at_k_is_the_share_of_k_subsets_with_a_correct_sample(data) -> None:  # type: ignore[no-untyped-def]
    # given n samples, some correct
    flags = data.draw(st.lists(st.booleans(), min_size=1, max_size=8))
    k = data.draw(st.integers(1, len(flags)))
    # when / then
    subsets = list(combinations(flags, k))
    expected = sum(any(s) for s in subsets) / len(subsets)
    assert pass_at_k(len(flags), sum(flags), k) == pytest.approx(expected)


def test_pass_at_k_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="k must be between 1 and n=3, got 4"):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError, match="correct must be between 0 and n=3, got 5"):
        pass_at_k(3, 5, 1)


@given(st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", "3", " "])), max_size=12))
def test_answer_groups_number_distinct_answers_in_order_of_appearance(answers) -> None:  # type: ignore[no-untyped-def]
    # when
    groups = answer_groups(answers, exact)
    # then
    distinct = [a for i, a in enumerate(answers) if a and a.strip() and a not in answers[:i]]
    assert groups == [distinct.index(a) if a and a.strip() else None for a in answers]


def test_answer_groups_follow_the_equivalence_check() -> None:
    # given an equivalence that ignores a leading zero
    def same(pairs):  # type: ignore[no-untyped-def]
        return [a.lstrip("0") == b.lstrip("0") for a, b in pairs]

    assert answer_groups(["05", "5", None, "6", "005"], same) == [0, 0, None, 1, 0]


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.booleans()), min_size=1, max_size=9
    )
)
def test_majority_correct_takes_the_most_common_group_first_seen_on_ties(items) -> None:  # type: ignore[no-untyped-def]
    # given samples whose correctness is a property of their group
    truth = {g: c for g, c in reversed(items)}
    samples = [Sample(g, truth[g] if g is not None else False, 1) for g, _ in items]
    # when
    result = majority_correct(samples)
    # then: brute force
    voted = [s.group for s in samples if s.group is not None]
    if not voted:
        assert result is False
        return
    best = max(voted.count(g) for g in voted)
    winner = next(g for g in voted if voted.count(g) == best)
    assert result == truth[winner]


def test_summarize_on_two_problems() -> None:
    # given: problem A 2 of 4 correct, majority on a wrong answer; problem B 4 of 4 correct
    a = [Sample(0, False, 10), Sample(1, True, 20), Sample(0, False, 30), Sample(1, True, 40)]
    b = [Sample(0, True, 5)] * 4
    # when
    summary = summarize([a, b, []], [1, 2, 4])
    # then
    assert summary.problems == 2
    assert summary.samples == 8
    assert summary.accuracy == 0.75
    assert summary.pass_at == {1: 0.75, 2: (5 / 6 + 1) / 2, 4: 1.0}
    assert summary.majority_at == {1: 0.5, 2: 0.5, 4: 0.5}
    assert summary.mean_tokens == 120 / 8
    assert summarize([a], [8]).pass_at == {8: None}


def test_report_ks() -> None:
    assert report_ks(1) == [1]
    assert report_ks(4) == [1, 2, 4]
    assert report_ks(6) == [1, 2, 4, 6]


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60), st.integers(0, 3))
def test_the_accuracy_interval_holds_the_mean_and_stays_in_the_values_range(
    shares: list[float], seed: int
) -> None:
    low, high = bootstrap_interval(shares, resamples=200, seed=seed) or (2.0, -1.0)
    mean = sum(shares) / len(shares)
    assert min(shares) - 1e-12 <= low <= mean + 1e-12 <= high + 2e-12
    assert high <= max(shares) + 1e-12
    # seeded: the same values give the same interval
    assert bootstrap_interval(shares, resamples=200, seed=seed) == (low, high)


def test_the_accuracy_interval_narrows_with_more_problems() -> None:
    few = bootstrap_interval([1.0, 0.0] * 10) or (0.0, 0.0)
    many = bootstrap_interval([1.0, 0.0] * 200) or (0.0, 0.0)
    assert few[0] < 0.5 < few[1]
    assert many[1] - many[0] < few[1] - few[0]
    assert bootstrap_interval([]) is None
    assert summarize([[Sample(0, True, 1)], [Sample(0, False, 1)]], [1]).accuracy_interval
