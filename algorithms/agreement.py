"""Inter-annotator agreement: Krippendorff's alpha, Fleiss' kappa, first-error agreement."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import product
from typing import Any, Literal

Level = Literal["nominal", "ordinal", "interval"]
Ratings = Sequence[int | None]


def krippendorff_alpha(
    units: Mapping[Any, Mapping[Any, float | None]], level: Level
) -> float | None:
    """Krippendorff's alpha over units -> coder -> value; None when undefined.

    Missing values (absent coders or None) are allowed; units with fewer than two values are not
    pairable and are ignored. Undefined means no pairable unit, or no variation at all.
    """
    coincidences: defaultdict[tuple[float, float], float] = defaultdict(float)
    for coder_values in units.values():
        counts = Counter(value for value in coder_values.values() if value is not None)
        pairable = sum(counts.values())
        if pairable < 2:
            continue
        for (c, count_c), (k, count_k) in product(counts.items(), repeat=2):
            pairs = count_c * (count_c - 1) if c == k else count_c * count_k
            coincidences[c, k] += pairs / (pairable - 1)
    marginals: defaultdict[float, float] = defaultdict(float)
    for (c, _k), weight in coincidences.items():
        marginals[c] += weight
    total = sum(marginals.values())
    if total == 0:
        return None
    distance = _squared_distance(level, marginals)
    observed = sum(weight * distance(c, k) for (c, k), weight in coincidences.items()) / total
    expected = sum(
        marginals[c] * marginals[k] * distance(c, k) for c, k in product(marginals, repeat=2)
    ) / (total * (total - 1))
    if expected == 0:
        return None
    return 1 - observed / expected


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from a subjects x categories table of how many raters chose each category.

    Every subject must have the same number of raters (at least two); None when undefined (no
    subjects, or every rating in one category).
    """
    if not counts:
        return None
    raters = sum(counts[0])
    if raters < 2:
        raise ValueError(f"each subject needs at least 2 ratings, the first has {raters}")
    for row_number, row in enumerate(counts, start=1):
        if sum(row) != raters:
            raise ValueError(
                f"subject {row_number} has {sum(row)} ratings, expected {raters} like the first"
            )
    subjects = len(counts)
    observed = (
        sum(
            (sum(count * count for count in row) - raters) / (raters * (raters - 1))
            for row in counts
        )
        / subjects
    )
    category_shares = [sum(column) / (subjects * raters) for column in zip(*counts, strict=True)]
    expected = sum(share * share for share in category_shares)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def first_error_index(ratings: Ratings) -> int:
    """Index of the first step rated -1, or -1 when no step is."""
    for index, rating in enumerate(ratings):
        if rating == -1:
            return index
    return -1


def first_error_agreement(items: Iterable[Sequence[Ratings]]) -> float | None:
    """Fraction of items whose annotators all put the first error at the same step.

    Each item holds one ratings list per annotator ("no error" counts as a position); items with
    fewer than two annotators are ignored; None when no item is left.
    """
    agreeing = 0
    compared = 0
    for per_annotator in items:
        if len(per_annotator) < 2:
            continue
        compared += 1
        agreeing += len({first_error_index(ratings) for ratings in per_annotator}) == 1
    return agreeing / compared if compared else None


def _squared_distance(
    level: Level, marginals: Mapping[float, float]
) -> Callable[[float, float], float]:
    if level == "nominal":
        return lambda c, k: 0.0 if c == k else 1.0
    if level == "interval":
        return lambda c, k: float(c - k) ** 2
    if level == "ordinal":
        ranked = sorted(marginals)
        # cumulative[i] = sum of the marginals of all values ranked before ranked[i]
        cumulative = [0.0]
        for value in ranked:
            cumulative.append(cumulative[-1] + marginals[value])
        rank = {value: index for index, value in enumerate(ranked)}

        def ordinal(c: float, k: float) -> float:
            low, high = sorted((rank[c], rank[k]))
            between = cumulative[high + 1] - cumulative[low]
            return (between - (marginals[c] + marginals[k]) / 2) ** 2

        return ordinal
    raise ValueError(f"unknown level of measurement {level!r}")
