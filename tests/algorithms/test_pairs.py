import pytest

from algorithms.pairs import sample_dpo_pairs

CORRECT = ["c0", "c1", "c2"]
INCORRECT = ["i0", "i1", "i2", "i3"]


def test_sample_dpo_pairs_is_deterministic_for_a_seed() -> None:
    # when
    first = sample_dpo_pairs(CORRECT, INCORRECT, k=5, seed=7)
    again = sample_dpo_pairs(CORRECT, INCORRECT, k=5, seed=7)
    other_seed = sample_dpo_pairs(CORRECT, INCORRECT, k=5, seed=8)

    # then
    assert first == [("c1", "i1"), ("c0", "i2"), ("c1", "i2"), ("c0", "i0"), ("c0", "i1")]
    assert again == first
    assert other_seed == [("c0", "i3"), ("c1", "i1"), ("c1", "i2"), ("c0", "i2"), ("c2", "i3")]


def test_sample_dpo_pairs_never_repeats_a_pair_and_caps_k() -> None:
    pairs = sample_dpo_pairs(CORRECT, INCORRECT, k=100, seed=1)

    assert len(pairs) == 12
    assert sorted(pairs) == [(c, i) for c in CORRECT for i in INCORRECT]


def test_sample_dpo_pairs_distinguishes_equal_items_by_position() -> None:
    pairs = sample_dpo_pairs(["same", "same"], ["wrong"], k=5, seed=3)

    assert pairs == [("same", "wrong"), ("same", "wrong")]


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
