from collections.abc import Callable

import pytest

from algorithms.mc_labels import (
    StepLabel,
    first_error_binary_search,
    first_error_linear,
    mc_step_labels,
)


def reaching_policy(
    reached_by_length: dict[int, int], n: int
) -> tuple[Callable[[list[int]], list[list[bool]]], list[list[int]]]:
    """Prefix length L: the first reached_by_length[L] of n rollouts reach the answer."""
    calls: list[list[int]] = []

    def rollout(prefix_lengths: list[int]) -> list[list[bool]]:
        calls.append(prefix_lengths)
        return [[j < reached_by_length[length] for j in range(n)] for length in prefix_lengths]

    return rollout, calls


def threshold_policy(good_prefixes: int) -> tuple[Callable[[int], list[bool]], list[int]]:
    """Prefixes up to ``good_prefixes`` steps sometimes reach the answer; longer ones never do."""
    asked: list[int] = []

    def rollout_one(length: int) -> list[bool]:
        asked.append(length)
        return [False, length <= good_prefixes, False]

    return rollout_one, asked


def test_mc_step_labels_gives_hard_and_soft_labels_from_one_batched_call():
    # given
    rollout, calls = reaching_policy({1: 4, 2: 1, 3: 0, 4: 0}, n=4)

    # when
    labels = mc_step_labels(4, rollout, n=4)

    # then
    assert calls == [[1, 2, 3, 4]]
    assert labels == [
        StepLabel(step_index=0, reached=4, rollouts=4),
        StepLabel(step_index=1, reached=1, rollouts=4),
        StepLabel(step_index=2, reached=0, rollouts=4),
        StepLabel(step_index=3, reached=0, rollouts=4),
    ]
    assert [label.hard for label in labels] == [True, True, False, False]
    assert [label.soft for label in labels] == [1.0, 0.25, 0.0, 0.0]


def test_mc_step_labels_without_steps_makes_no_call():
    rollout, calls = reaching_policy({}, n=2)

    assert mc_step_labels(0, rollout, n=2) == []
    assert calls == []


def test_mc_step_labels_rejects_a_wrong_number_of_rollouts():
    rollout, _ = reaching_policy({1: 1, 2: 1}, n=3)

    with pytest.raises(ValueError, match="rollout must return 2 outcomes for each of 2 prefixes"):
        mc_step_labels(2, rollout, n=2)


@pytest.mark.parametrize("n_steps", range(1, 13))
def test_binary_search_finds_the_same_first_error_as_the_linear_scan(n_steps):
    for good_prefixes in range(n_steps + 1):
        # given
        expected = good_prefixes if good_prefixes < n_steps else -1
        binary_rollout, binary_asked = threshold_policy(good_prefixes)
        linear_rollout, _ = threshold_policy(good_prefixes)

        # when
        binary_index, binary_count = first_error_binary_search(n_steps, binary_rollout)
        linear_index, linear_count = first_error_linear(n_steps, linear_rollout)

        # then
        assert binary_index == linear_index == expected
        assert linear_count == min(good_prefixes + 1, n_steps)
        assert binary_count == len(binary_asked) == len(set(binary_asked))
        assert binary_count <= n_steps.bit_length()


def counts(search: Callable[..., tuple[int, int]], n_steps: int) -> list[int]:
    """Prefixes evaluated for each position of the first error (0 .. n_steps good prefixes)."""
    return [search(n_steps, threshold_policy(good)[0])[1] for good in range(n_steps + 1)]


def test_exact_prefix_counts_for_four_and_eight_steps():
    assert counts(first_error_linear, 4) == [1, 2, 3, 4, 4]
    assert counts(first_error_binary_search, 4) == [2, 2, 2, 3, 3]
    assert counts(first_error_linear, 8) == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert counts(first_error_binary_search, 8) == [3, 3, 3, 3, 3, 3, 3, 4, 4]


@pytest.mark.parametrize("n_steps", range(4, 13))
def test_binary_search_needs_fewer_prefixes_from_four_steps(n_steps):
    # when
    binary = counts(first_error_binary_search, n_steps)
    linear = counts(first_error_linear, n_steps)

    # then: worst case log2 against n, and fewer in total over every error position
    assert max(binary) == n_steps.bit_length()
    assert max(linear) == n_steps
    assert max(binary) < max(linear)
    assert sum(linear) == n_steps * (n_steps + 1) // 2 + n_steps
    assert sum(binary) < sum(linear)


def test_binary_search_on_a_single_step():
    assert first_error_binary_search(1, threshold_policy(0)[0]) == (0, 1)
    assert first_error_binary_search(1, threshold_policy(1)[0]) == (-1, 1)
    assert first_error_binary_search(0, threshold_policy(0)[0]) == (-1, 0)
