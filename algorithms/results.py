"""The metrics of an evaluation run: accuracy, pass@k, majority@k, mean generated tokens.

Each problem has its samples in the order they were drawn. Majority voting groups final answers
by mathematical equivalence: `answer_groups` numbers the groups, with any equivalence check
(the workers pass the math-verify pool of algorithms.answers).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb

# The accuracy's interval: a percentile bootstrap over the problems (their samples stay
# together, so k samples of one problem do not count as k independent observations).
INTERVAL_LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

# Checks many (answer, representative) pairs at once; True when equivalent.
EquivalentMany = Callable[[Sequence[tuple[str, str]]], list[bool]]


@dataclass(frozen=True)
class Sample:
    group: int | None  # the answer's equivalence group within its problem; None: no answer
    correct: bool
    tokens: int


@dataclass(frozen=True)
class Summary:
    problems: int
    samples: int
    accuracy: float | None  # mean over problems of the share of correct samples
    # INTERVAL_LEVEL bootstrap interval of the accuracy over the problems; None: no samples
    accuracy_interval: tuple[float, float] | None
    pass_at: dict[int, float | None]
    majority_at: dict[int, float | None]
    mean_tokens: float | None


def answer_groups(answers: Sequence[str | None], equivalent: EquivalentMany) -> list[int | None]:
    """A group number per answer: the first answer of each group is its representative, and
    an answer joins the first group whose representative it is equivalent to."""
    representatives: list[str] = []
    groups: list[int | None] = []
    for answer in answers:
        if answer is None or not answer.strip():
            groups.append(None)
            continue
        verdicts = equivalent([(answer, rep) for rep in representatives]) if representatives else []
        match = next((i for i, same in enumerate(verdicts) if same), None)
        if match is None:
            representatives.append(answer)
            match = len(representatives) - 1
        groups.append(match)
    return groups


def bootstrap_interval(
    values: Sequence[float],
    *,
    level: float = INTERVAL_LEVEL,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the mean of `values` (one per problem: its share
    of correct samples), seeded so that the same values give the same interval; None for no
    values. The interval always holds the mean itself."""
    if not values:
        return None
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    n = len(values)
    mean = sum(values) / n
    draw = random.Random(seed)
    means = sorted(sum(draw.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1.0 - level) / 2.0
    low = means[int(tail * (resamples - 1))]
    high = means[round((1.0 - tail) * (resamples - 1))]
    return min(low, mean), max(high, mean)


def pass_at_k(n: int, correct: int, k: int) -> float:
    """The unbiased estimate of P(at least one of k samples is correct) from n samples of
    which `correct` are (Chen et al. 2021): 1 - C(n - c, k) / C(n, k)."""
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n={n}, got {k}")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must be between 0 and n={n}, got {correct}")
    if n - correct < k:
        return 1.0
    return 1.0 - comb(n - correct, k) / comb(n, k)


def majority_correct(samples: Sequence[Sample]) -> bool:
    """Whether the most common answer group of the samples is correct: a tie goes to the group
    seen first; samples without an answer do not vote; no votes is wrong."""
    votes = Counter(s.group for s in samples if s.group is not None)
    if not votes:
        return False
    first_seen = {s.group: i for i, s in reversed(list(enumerate(samples)))}
    winner = max(votes, key=lambda group: (votes[group], -first_seen[group]))
    return next(s.correct for s in samples if s.group == winner)


def summarize(per_problem: Sequence[Sequence[Sample]], ks: Sequence[int]) -> Summary:
    """Every metric over the problems; a k larger than a problem's sample count gives None."""
    with_samples = [samples for samples in per_problem if samples]
    every = [s for samples in with_samples for s in samples]

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    def over_problems(k: int, metric: Callable[[Sequence[Sample]], float]) -> float | None:
        if not with_samples or any(len(samples) < k for samples in with_samples):
            return None
        return mean([metric(samples) for samples in with_samples])

    def pass_at(k: int) -> Callable[[Sequence[Sample]], float]:
        return lambda samples: pass_at_k(len(samples), sum(s.correct for s in samples), k)

    def majority_at(k: int) -> Callable[[Sequence[Sample]], float]:
        return lambda samples: float(majority_correct(samples[:k]))

    shares = [sum(s.correct for s in ss) / len(ss) for ss in with_samples]
    return Summary(
        problems=len(with_samples),
        samples=len(every),
        accuracy=mean(shares),
        accuracy_interval=bootstrap_interval(shares),
        pass_at={k: over_problems(k, pass_at(k)) for k in ks},
        majority_at={k: over_problems(k, majority_at(k)) for k in ks},
        mean_tokens=mean([float(s.tokens) for s in every]),
    )


def report_ks(samples_per_problem: int) -> list[int]:
    """1, then powers of two below n, then n: the k columns of a results table."""
    ks = [1]
    while ks[-1] * 2 < samples_per_problem:
        ks.append(ks[-1] * 2)
    if samples_per_problem > 1:
        ks.append(samples_per_problem)
    return ks
