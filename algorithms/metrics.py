"""Evaluation metrics for step scorers and answer selection.

All accuracies and rates are fractions in [0, 1] (ProcessBench reports them as percentages).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Literal, NamedTuple, TypedDict

NO_ERROR = -1


class ProcessBenchScores(TypedDict):
    error_acc: float | None
    correct_acc: float | None
    f1: float | None


class ThresholdChoice(TypedDict):
    threshold: float
    scores: ProcessBenchScores


class PrecisionRecall(TypedDict):
    precision: float
    recall: float
    f1: float


class CalibrationBin(TypedDict):
    lower: float
    upper: float
    count: int
    mean_score: float | None
    positive_rate: float | None


def processbench_scores(
    predicted_first_error: Sequence[int], true_first_error: Sequence[int]
) -> ProcessBenchScores:
    """ProcessBench's metrics: accuracy of the first-error index on items that have an error,
    accuracy on items without one (-1), and the harmonic mean of the two.

    An accuracy is None when its subset is empty, and so is the F1 then.
    """
    if len(predicted_first_error) != len(true_first_error):
        raise ValueError(
            f"{len(predicted_first_error)} predictions for {len(true_first_error)} labels"
        )
    with_error = [
        (p, t)
        for p, t in zip(predicted_first_error, true_first_error, strict=True)
        if t != NO_ERROR
    ]
    without_error = [
        p for p, t in zip(predicted_first_error, true_first_error, strict=True) if t == NO_ERROR
    ]
    error_acc = _fraction(sum(p == t for p, t in with_error), len(with_error))
    correct_acc = _fraction(sum(p == NO_ERROR for p in without_error), len(without_error))
    return {
        "error_acc": error_acc,
        "correct_acc": correct_acc,
        "f1": _harmonic_mean(error_acc, correct_acc),
    }


def predicted_first_error(scores: Sequence[float], threshold: float) -> int:
    """Index of the first step scored below `threshold`, or -1 when none is."""
    for index, score in enumerate(scores):
        if score < threshold:
            return index
    return NO_ERROR


def best_threshold(
    step_scores: Sequence[Sequence[float]], true_first_error: Sequence[int]
) -> ThresholdChoice:
    """The threshold for `predicted_first_error` that maximises the ProcessBench F1 on a
    calibration split, with the scores it reaches there.

    Every distinct outcome is tried once: the lowest score (nothing flagged), the midpoints
    between consecutive distinct scores, and just above the highest score (everything flagged).
    Ties go to the lowest threshold. A split whose items all have (or all lack) an error has no
    F1; its one accuracy is maximised instead.
    """
    if len(step_scores) != len(true_first_error):
        raise ValueError(f"{len(step_scores)} score lists for {len(true_first_error)} labels")
    distinct = sorted({score for scores in step_scores for score in scores})
    if not distinct:
        raise ValueError("no step scores to choose a threshold from")
    candidates = [
        distinct[0],
        *((low + high) / 2 for low, high in pairwise(distinct)),
        math.nextafter(distinct[-1], math.inf),
    ]
    labelled = list(zip(step_scores, true_first_error, strict=True))
    with_error = _ThresholdIntervals(
        [_correct_interval(scores, label) for scores, label in labelled if label != NO_ERROR]
    )
    without_error = _ThresholdIntervals(
        [_correct_interval(scores, label) for scores, label in labelled if label == NO_ERROR]
    )
    best: ThresholdChoice | None = None
    for threshold in candidates:
        error_acc = with_error.fraction_containing(threshold)
        correct_acc = without_error.fraction_containing(threshold)
        scores_here: ProcessBenchScores = {
            "error_acc": error_acc,
            "correct_acc": correct_acc,
            "f1": _harmonic_mean(error_acc, correct_acc),
        }
        if best is None or _objective(scores_here) > _objective(best["scores"]):
            best = {"threshold": threshold, "scores": scores_here}
    assert best is not None
    return best


def _objective(scores: ProcessBenchScores) -> float:
    """The F1, or the one accuracy there is when the split has items of one kind only."""
    for value in (scores["f1"], scores["error_acc"], scores["correct_acc"]):
        if value is not None:
            return value
    return 0.0


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve for `labels` (True = positive) ranked by `scores`.

    Rank-based (Mann-Whitney U) with tied scores sharing their average rank; None when either
    class is absent.
    """
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(scores)), key=lambda index: scores[index])
    positive_rank_sum = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        average_rank = (start + end) / 2 + 1
        positive_rank_sum += average_rank * sum(labels[order[i]] for i in range(start, end + 1))
        start = end + 1
    u_statistic = positive_rank_sum - positives * (positives + 1) / 2
    return u_statistic / (positives * negatives)


def binary_prf(pred: Sequence[bool], gold: Sequence[bool]) -> PrecisionRecall:
    """Precision, recall and F1 of the positive class; each is 0.0 when its denominator is."""
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} labels")
    true_positives = sum(p and g for p, g in zip(pred, gold, strict=True))
    precision = _fraction(true_positives, sum(pred)) or 0.0
    recall = _fraction(true_positives, sum(gold)) or 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": _harmonic_mean(precision, recall) or 0.0,
    }


def calibration_bins(
    scores: Sequence[float], labels: Sequence[bool], n_bins: int = 10
) -> list[CalibrationBin]:
    """Equal-width bins over [0, 1]: how many scores fall in each, their mean, and the fraction
    of positive labels (a calibrated scorer has mean_score close to positive_rate)."""
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for score, label in zip(scores, labels, strict=True):
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score {score} is outside [0, 1]")
        members[min(int(score * n_bins), n_bins - 1)].append((score, label))
    return [
        {
            "lower": index / n_bins,
            "upper": (index + 1) / n_bins,
            "count": len(in_bin),
            "mean_score": _fraction(sum(score for score, _ in in_bin), len(in_bin)),
            "positive_rate": _fraction(sum(label for _, label in in_bin), len(in_bin)),
        }
        for index, in_bin in enumerate(members)
    ]


def aggregate_step_scores(scores: Sequence[float], how: Literal["min", "last", "prod"]) -> float:
    """One solution-level score from step scores: the weakest step, the last step, or the
    product (the probability that every step is good, if the steps were independent)."""
    if not scores:
        raise ValueError("no step scores to aggregate")
    if how == "min":
        return min(scores)
    if how == "last":
        return scores[-1]
    if how == "prod":
        return math.prod(scores)
    raise ValueError(f"unknown aggregation {how!r}")


def best_of_n_accuracy(
    candidates_per_problem: Sequence[Sequence[tuple[float, bool]]], n: int | None = None
) -> float | None:
    """Fraction of problems whose highest-scored candidate (score, is_correct) is correct.

    Only the first `n` candidates of each problem are considered when `n` is given; the first
    candidate wins a tie; problems without candidates count as wrong; None for no problems.
    """
    if n is not None and n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    correct = 0
    for candidates in candidates_per_problem:
        considered = candidates[:n] if n is not None else candidates
        if considered:
            correct += max(considered, key=lambda candidate: candidate[0])[1]
    return _fraction(correct, len(candidates_per_problem))


def majority_vote(
    answers: Sequence[str | None], weights: Sequence[float] | None = None
) -> str | None:
    """The most common answer (the heaviest, when weighted, e.g. by a PRM's score).

    Answers equal up to whitespace vote together and the first spelling is returned; missing
    answers do not vote; ties go to the answer seen first; None when nobody voted.
    """
    if weights is not None and len(weights) != len(answers):
        raise ValueError(f"{len(weights)} weights for {len(answers)} answers")
    totals: defaultdict[str, float] = defaultdict(float)
    first_spelling: dict[str, str] = {}
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        key = " ".join(answer.split())
        first_spelling.setdefault(key, answer)
        totals[key] += 1.0 if weights is None else weights[index]
    if not totals:
        return None
    # max() keeps the first of equal totals, and dicts keep insertion order.
    return first_spelling[max(totals, key=lambda key: totals[key])]


def answer_classes(
    answers: Sequence[str | None], equivalent: Callable[[list[tuple[str, str]]], list[bool]]
) -> list[int | None]:
    """A class number per answer, equal for mathematically equivalent answers (``1/2`` and
    ``0.5``), numbered in order of first appearance; None for a sample without an answer.

    ``equivalent`` decides a batch of (answer, representative) pairs (the project's math
    grader); each new spelling is compared with one representative of every class so far."""
    classes: list[int | None] = []
    by_spelling: dict[str, int] = {}
    representatives: list[str] = []
    for answer in answers:
        if answer is None:
            classes.append(None)
            continue
        spelling = " ".join(answer.split())
        if spelling not in by_spelling:
            verdicts = (
                equivalent([(spelling, r) for r in representatives]) if representatives else []
            )
            match = next((i for i, same in enumerate(verdicts) if same), None)
            if match is None:
                match = len(representatives)
                representatives.append(spelling)
            by_spelling[spelling] = match
        classes.append(by_spelling[spelling])
    return classes


class Vote(NamedTuple):
    """One sample in a vote: its answer class (None: no answer), whether it is right, and its
    weight (1 for a plain majority, the solution's score for a PRM-weighted vote)."""

    answer_class: int | None
    correct: bool
    weight: float = 1.0


def vote_accuracy(votes_per_problem: Sequence[Sequence[Vote]], n: int) -> float | None:
    """Fraction of problems whose heaviest answer class among the first ``n`` samples is a
    right answer. Samples without an answer do not vote, and a problem where none answered
    counts as wrong; ties go to the class seen first; None for no problems."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    right = 0
    for votes in votes_per_problem:
        totals: dict[int, float] = {}
        correct: dict[int, bool] = {}
        for vote in votes[:n]:
            if vote.answer_class is not None:
                totals[vote.answer_class] = totals.get(vote.answer_class, 0.0) + vote.weight
                correct.setdefault(vote.answer_class, vote.correct)
        if totals:
            right += correct[max(totals, key=lambda c: totals[c])]
    return _fraction(right, len(votes_per_problem))


def mean_tokens(tokens_per_problem: Sequence[Sequence[int]], n: int) -> float | None:
    """Generated tokens spent on the first ``n`` samples, averaged over problems: the cost axis
    of a best-of-N curve."""
    return _fraction(sum(sum(tokens[:n]) for tokens in tokens_per_problem), len(tokens_per_problem))


class _ThresholdIntervals:
    """Half-open threshold intervals (low, high], one per item or None for an item that no
    threshold gets right; counts the fraction of items whose interval contains a threshold."""

    def __init__(self, intervals: Sequence[tuple[float, float] | None]) -> None:
        self._items = len(intervals)
        self._lows = sorted(interval[0] for interval in intervals if interval is not None)
        self._highs = sorted(interval[1] for interval in intervals if interval is not None)

    def fraction_containing(self, threshold: float) -> float | None:
        # low < threshold <= high; every high exceeds its low, so the intervals with
        # high < threshold are among those with low < threshold.
        containing = bisect_left(self._lows, threshold) - bisect_left(self._highs, threshold)
        return _fraction(containing, self._items)


def _correct_interval(scores: Sequence[float], label: int) -> tuple[float, float] | None:
    """The thresholds (low, high] at which `predicted_first_error(scores, t) == label`."""
    prefix_minima = list(_running_minimum(scores))
    if label == NO_ERROR:
        return (-math.inf, prefix_minima[-1]) if prefix_minima else (-math.inf, math.inf)
    if label >= len(scores):
        return None
    low = prefix_minima[label]
    high = prefix_minima[label - 1] if label > 0 else math.inf
    return (low, high) if low < high else None


def _running_minimum(values: Sequence[float]) -> list[float]:
    minima: list[float] = []
    for value in values:
        minima.append(min(value, minima[-1]) if minima else value)
    return minima


def _fraction(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _harmonic_mean(first: float | None, second: float | None) -> float | None:
    if first is None or second is None:
        return None
    return 2 * first * second / (first + second) if first + second else 0.0
