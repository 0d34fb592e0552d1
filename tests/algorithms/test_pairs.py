import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.pairs import sample_dpo_pairs

CORRECT = ["c0", "c1", "c2"]
INCORRECT = ["i0", "i1", "i2", "i3"]


def test_sample_dpo_pairs_is_deterministic_for_a_seed() -> None:
    # when
    first = sample_dpo_pairs(CORRECT, INCORRECT, k=2, seed=7)
    again = sample_dpo_pairs(CORRECT, INCORRECT, k=2, seed=7)
    other_seed = sample_dpo_pairs(CORRECT, INCORRECT, k=2, seed=8)

    # then
    assert first == [("c1", "i3"), ("c0", "i2")]
    assert again == first
    assert other_seed == [("c0", "i3"), ("c1", "i0")]


def test_ten_correct_and_ten_incorrect_give_five_pairs_of_distinct_responses_for_every_seed():
    # given: the recipe's 20 samples, 10 right and 10 wrong
    correct = [f"right {i}" for i in range(10)]
    incorrect = [f"wrong {i}" for i in range(10)]

    for seed in range(1000):
        # when
        pairs = sample_dpo_pairs(correct, incorrect, k=5, seed=seed)

        # then
        assert len(pairs) == 5
        assert len({chosen for chosen, _ in pairs}) == 5
        assert len({rejected for _, rejected in pairs}) == 5


def test_equal_responses_count_once() -> None:
    pairs = sample_dpo_pairs(["same", "same", "other"], ["wrong", "wrong"], k=5, seed=3)

    assert len(pairs) == 1
    assert pairs[0][1] == "wrong"


def test_a_key_decides_which_responses_are_the_same() -> None:
    pairs = sample_dpo_pairs([("a", 1), ("a", 2)], [("b", 3)], k=5, seed=0, key=lambda r: r[0])

    assert pairs == [(("a", 1), ("b", 3))]


@settings(max_examples=300, deadline=None)
@given(
    correct=st.lists(st.text(max_size=3), max_size=12),
    incorrect=st.lists(st.text(max_size=3), max_size=12),
    k=st.integers(0, 8),
    seed=st.integers(0, 2**32),
)
def test_pairs_use_each_distinct_response_at_most_once(correct, incorrect, k, seed) -> None:
    pairs = sample_dpo_pairs(correct, incorrect, k=k, seed=seed)

    assert len(pairs) == min(k, len(set(correct)), len(set(incorrect)))
    assert len({c for c, _ in pairs}) == len({r for _, r in pairs}) == len(pairs)
    assert all(c in correct and r in incorrect for c, r in pairs)
    assert sample_dpo_pairs(correct, incorrect, k=k, seed=seed) == pairs


@pytest.mark.parametrize(
    ("correct", "incorrect", "k"),
    [([], INCORRECT, 5), (CORRECT, [], 5), (CORRECT, INCORRECT, 0)],
)
def test_sample_dpo_pairs_returns_nothing_without_both_sides(
    correct: list[str], incorrect: list[str], k: int
) -> None:
    assert sample_dpo_pairs(correct, incorrect, k=k, seed=0) == []


def test_sample_dpo_pairs_rejects_negative_k() -> None:
    with pytest.raises(ValueError, match="k must be at least 0, got -1"):
        sample_dpo_pairs(CORRECT, INCORRECT, k=-1, seed=0)
