import math
import random
from fractions import Fraction

import pytest

from algorithms.metrics import (
    Vote,
    aggregate_step_scores,
    answer_classes,
    auroc,
    best_of_n_accuracy,
    best_threshold,
    binary_prf,
    calibration_bins,
    majority_vote,
    mean_tokens,
    predicted_first_error,
    processbench_scores,
    vote_accuracy,
)


def test_processbench_scores() -> None:
    # given: 3 items with an error (1 right) and 2 without (1 right)
    predicted = [2, -1, 1, -1, 0]
    truth = [2, -1, 3, 1, -1]

    # when
    scores = processbench_scores(predicted, truth)

    # then: f1 = 2 * (1/3) * (1/2) / (1/3 + 1/2) = 2/5
    assert scores == {"error_acc": 1 / 3, "correct_acc": 0.5, "f1": pytest.approx(0.4)}


def test_processbench_scores_with_an_empty_subset() -> None:
    assert processbench_scores([0, 1], [0, 2]) == {
        "error_acc": 0.5,
        "correct_acc": None,
        "f1": None,
    }
    assert processbench_scores([-1, 3], [-1, -1]) == {
        "error_acc": None,
        "correct_acc": 0.5,
        "f1": None,
    }
    assert processbench_scores([1], [0]) == {"error_acc": 0.0, "correct_acc": None, "f1": None}
    assert processbench_scores([1, 0], [0, -1]) == {"error_acc": 0.0, "correct_acc": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="1 predictions for 2 labels"):
        processbench_scores([1], [1, 2])


@pytest.mark.parametrize(
    ("scores", "threshold", "expected"),
    [
        ([0.9, 0.4, 0.2], 0.5, 1),
        ([0.9, 0.5, 0.2], 0.5, 2),  # a score equal to the threshold is not an error
        ([0.9, 0.8], 0.5, -1),
        ([0.1], 0.5, 0),
        ([], 0.5, -1),
    ],
)
def test_predicted_first_error(scores: list[float], threshold: float, expected: int) -> None:
    assert predicted_first_error(scores, threshold) == expected


def test_best_threshold_on_a_hand_made_split() -> None:
    # given
    step_scores = [[0.9, 0.2, 0.8], [0.9, 0.8, 0.7], [0.3, 0.9], [0.9, 0.6]]
    labels = [1, -1, 0, -1]

    # when
    choice = best_threshold(step_scores, labels)

    # then: only thresholds in (0.3, 0.6] get all four right; the midpoint 0.45 is tried first
    assert choice == {
        "threshold": (0.3 + 0.6) / 2,
        "scores": {"error_acc": 1.0, "correct_acc": 1.0, "f1": 1.0},
    }


def test_best_threshold_matches_a_brute_force_search() -> None:
    # given: 60 random items, scores rounded so that ties happen
    rng = random.Random(4)
    step_scores = [[round(rng.random(), 1) for _ in range(rng.randint(1, 6))] for _ in range(60)]
    labels = [rng.choice([-1, rng.randrange(len(scores))]) for scores in step_scores]

    # when
    choice = best_threshold(step_scores, labels)

    # then
    def f1_at(threshold: float) -> float:
        predicted = [predicted_first_error(scores, threshold) for scores in step_scores]
        return processbench_scores(predicted, labels)["f1"] or 0.0

    grid = [step / 1000 for step in range(-10, 1011)]
    assert choice["scores"]["f1"] == pytest.approx(max(f1_at(t) for t in grid), abs=1e-12)
    assert choice["scores"]["f1"] == pytest.approx(f1_at(choice["threshold"]), abs=1e-12)
    # 4 of 26 items with an error and 17 of 34 without: f1 = 2 * (2/13) * (1/2) / (17/26)
    assert choice == {
        "threshold": (0.1 + 0.2) / 2,
        "scores": {"error_acc": 4 / 26, "correct_acc": 17 / 34, "f1": pytest.approx(4 / 17)},
    }


def test_best_threshold_can_flag_everything() -> None:
    choice = best_threshold([[0.5], [0.7]], [0, 0])

    assert choice["threshold"] == math.nextafter(0.7, math.inf)
    assert choice["scores"] == {"error_acc": 1.0, "correct_acc": None, "f1": None}


def test_auroc() -> None:
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    # the tied positive at 0.5 beats half of each tied negative: (0.5 + 0.5 + 2) / 4
    assert auroc([0.5, 0.5, 0.5, 0.9], [True, False, False, True]) == 0.75
    assert auroc([0.2, 0.1], [True, False]) == 1.0
    assert auroc([0.2, 0.1], [False, True]) == 0.0
    assert auroc([0.3, 0.3], [True, False]) == 0.5
    assert auroc([0.3, 0.4], [True, True]) is None
    assert auroc([], []) is None


def test_auroc_matches_counting_pairs() -> None:
    rng = random.Random(7)
    scores = [round(rng.random(), 1) for _ in range(200)]
    labels = [rng.random() < score for score in scores]

    positives = [s for s, label in zip(scores, labels, strict=True) if label]
    negatives = [s for s, label in zip(scores, labels, strict=True) if not label]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    assert auroc(scores, labels) == pytest.approx(wins / (len(positives) * len(negatives)))


def test_binary_prf() -> None:
    pred = [True, True, False, False, True]
    gold = [True, False, True, False, True]

    assert binary_prf(pred, gold) == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
    }
    assert binary_prf([True, False], [True, True]) == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
    }
    assert binary_prf([False, False], [True, False]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_calibration_bins() -> None:
    scores = [0.1, 0.2, 0.3, 0.6, 1.0, 0.0]
    labels = [False, True, False, True, True, False]

    bins = calibration_bins(scores, labels, n_bins=4)

    assert bins == [
        {
            "lower": 0.0,
            "upper": 0.25,
            "count": 3,
            "mean_score": pytest.approx(0.1),
            "positive_rate": 1 / 3,
        },
        {"lower": 0.25, "upper": 0.5, "count": 1, "mean_score": 0.3, "positive_rate": 0.0},
        {"lower": 0.5, "upper": 0.75, "count": 1, "mean_score": 0.6, "positive_rate": 1.0},
        {"lower": 0.75, "upper": 1.0, "count": 1, "mean_score": 1.0, "positive_rate": 1.0},
    ]
    assert calibration_bins([], [], n_bins=2) == [
        {"lower": 0.0, "upper": 0.5, "count": 0, "mean_score": None, "positive_rate": None},
        {"lower": 0.5, "upper": 1.0, "count": 0, "mean_score": None, "positive_rate": None},
    ]
    with pytest.raises(ValueError, match=r"score 1.5 is outside \[0, 1\]"):
        calibration_bins([1.5], [True])


def test_aggregate_step_scores() -> None:
    scores = [0.9, 0.5, 0.8]

    assert aggregate_step_scores(scores, "min") == 0.5
    assert aggregate_step_scores(scores, "last") == 0.8
    assert aggregate_step_scores(scores, "prod") == pytest.approx(0.36)
    with pytest.raises(ValueError, match="no step scores"):
        aggregate_step_scores([], "min")


def test_best_of_n_accuracy() -> None:
    problems = [
        [(0.2, False), (0.9, True), (0.5, False)],
        [(0.7, False), (0.7, True)],  # tie: the first candidate is picked
        [(0.1, True)],
        [],
    ]

    assert best_of_n_accuracy(problems) == 0.5
    assert best_of_n_accuracy(problems, n=1) == 0.25
    assert best_of_n_accuracy([]) is None


def test_majority_vote() -> None:
    answers = ["5", " 5", "6", None, "6 ", "7"]

    assert majority_vote(answers) == "5"
    assert majority_vote(answers, weights=[0.1, 0.1, 0.5, 0.9, 0.4, 0.3]) == "6"
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None


def by_value(pairs: list[tuple[str, str]]) -> list[bool]:
    """Equivalence by numeric value, standing in for the math grader."""
    return [Fraction(a) == Fraction(b) for a, b in pairs]


def test_answer_classes_group_equivalent_spellings_and_leave_unanswered_out() -> None:
    assert answer_classes(["1/2", "0.5", None, "3", " 1/2", "6/2"], by_value) == [
        0, 0, None, 1, 0, 1,
    ]  # fmt: skip


def test_each_new_spelling_is_compared_with_one_representative_per_class() -> None:
    asked: list[list[tuple[str, str]]] = []

    def equivalent(pairs: list[tuple[str, str]]) -> list[bool]:
        asked.append(pairs)
        return by_value(pairs)

    answer_classes(["1", "2", "1", "2.0"], equivalent)

    assert asked == [[("2", "1")], [("2.0", "1"), ("2.0", "2")]]


def test_vote_accuracy_counts_unanswered_samples_as_not_voting_and_empty_votes_as_wrong() -> None:
    problems = [
        [Vote(None, False), Vote(0, True), Vote(1, False), Vote(1, False)],
        [Vote(None, False), Vote(None, False)],  # nobody answered: wrong
        [Vote(0, False), Vote(1, True)],  # tie: the class seen first wins
    ]

    assert vote_accuracy(problems, n=2) == pytest.approx(1 / 3)
    assert vote_accuracy(problems, n=4) == 0.0
    assert vote_accuracy([], n=1) is None
    with pytest.raises(ValueError, match="n must be at least 1"):
        vote_accuracy(problems, n=0)


def test_a_weighted_vote_lets_confident_samples_outvote_many() -> None:
    problem = [Vote(0, True, 0.9), Vote(1, False, 0.2), Vote(1, False, 0.3)]

    assert vote_accuracy([problem], n=3) == 1.0
    assert vote_accuracy([[v._replace(weight=1.0) for v in problem]], n=3) == 0.0


def test_mean_tokens_is_the_cost_of_the_first_n_samples_per_problem() -> None:
    assert mean_tokens([[10, 20, 30], [5]], n=2) == (30 + 5) / 2
    assert mean_tokens([], n=2) is None
