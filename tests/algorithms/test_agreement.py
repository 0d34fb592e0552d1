import random
from fractions import Fraction

import krippendorff
import numpy as np
import pytest

from algorithms.agreement import (
    Level,
    first_error_agreement,
    first_error_index,
    fleiss_kappa,
    krippendorff_alpha,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders x 12 units,
# None where a coder gave no value.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _units(coders_by_unit: list[list[int | None]]) -> dict[int, dict[str, float | None]]:
    return {
        unit: {f"coder{coder}": row[unit] for coder, row in enumerate(coders_by_unit)}
        for unit in range(len(coders_by_unit[0]))
    }


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("nominal", float(Fraction(113, 152))),  # 0.743 in the paper
        ("ordinal", 0.8153875037548813),  # 0.815 in the paper
        ("interval", float(Fraction(951, 1120))),  # 0.849 in the paper
    ],
)
def test_krippendorff_alpha_matches_the_worked_example(level: Level, expected: float) -> None:
    alpha = krippendorff_alpha(_units(KRIPPENDORFF_2011), level)

    assert alpha == pytest.approx(expected, abs=1e-12)
    assert round(alpha or 0, 3) == {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849}[level]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_krippendorff_alpha_agrees_with_the_krippendorff_package(level: Level, seed: int) -> None:
    # given: 5 coders grading 40 steps with -1/0/+1, some grades missing, mostly agreeing
    rng = random.Random(seed)
    truth = [rng.choice([-1, 0, 1]) for _ in range(40)]
    data: list[list[int | None]] = [
        [
            None
            if rng.random() < 0.2
            else (value if rng.random() < 0.7 else rng.choice([-1, 0, 1]))
            for value in truth
        ]
        for _ in range(5)
    ]
    reference_data = np.array(
        [[np.nan if value is None else value for value in row] for row in data], dtype=float
    )

    # when
    alpha = krippendorff_alpha(_units(data), level)

    # then
    reference = krippendorff.alpha(reliability_data=reference_data, level_of_measurement=level)
    assert alpha == pytest.approx(reference, abs=1e-12)


def test_krippendorff_alpha_ignores_units_with_one_value_and_is_one_on_full_agreement() -> None:
    units = {"a": {"x": 1.0, "y": 1.0}, "b": {"x": 0.0, "y": 0.0}, "c": {"x": -1.0}, "d": {}}

    assert krippendorff_alpha(units, "nominal") == 1.0
    assert krippendorff_alpha(units, "ordinal") == 1.0


def test_krippendorff_alpha_is_undefined_without_variation_or_pairs() -> None:
    assert (
        krippendorff_alpha({"a": {"x": 1.0, "y": 1.0}, "b": {"x": 1.0, "y": 1.0}}, "nominal")
        is None
    )
    assert krippendorff_alpha({"a": {"x": 1.0}, "b": {"y": 0.0}}, "interval") is None
    assert krippendorff_alpha({}, "ordinal") is None


def test_krippendorff_alpha_is_negative_for_systematic_disagreement() -> None:
    units = {unit: {"x": 0.0, "y": 1.0} for unit in range(3)}

    # n = 6 pairable values, D_o = 6/6 = 1, D_e = (3*3 + 3*3) / (6*5) = 0.6, alpha = 1 - 1/0.6
    assert krippendorff_alpha(units, "nominal") == pytest.approx(-2 / 3, abs=1e-12)


def test_fleiss_kappa_matches_the_textbook_example() -> None:
    # Fleiss (1971) style example: 10 subjects, 14 raters, 5 categories; kappa = 0.210
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]

    kappa = fleiss_kappa(counts)

    assert kappa == pytest.approx(0.20993070442195522, abs=1e-12)
    assert round(kappa or 0, 3) == 0.210


def test_fleiss_kappa_edge_cases() -> None:
    assert fleiss_kappa([[2, 0], [0, 2]]) == 1.0
    assert fleiss_kappa([[1, 1], [1, 1]]) == pytest.approx(-1.0, abs=1e-12)
    assert fleiss_kappa([[3, 0], [3, 0]]) is None
    assert fleiss_kappa([]) is None
    with pytest.raises(ValueError, match="subject 2 has 2 ratings, expected 3 like the first"):
        fleiss_kappa([[1, 2], [1, 1]])
    with pytest.raises(ValueError, match="at least 2 ratings"):
        fleiss_kappa([[1, 0]])


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [([1, 1, -1, 0, -1], 2), ([1, 0, None, 1], -1), ([-1], 0), ([], -1), ([None, -1], 1)],
)
def test_first_error_index(ratings: list[int | None], expected: int) -> None:
    assert first_error_index(ratings) == expected


def test_first_error_agreement() -> None:
    # given
    items = [
        [[1, -1, 0], [1, -1]],  # both at step 1: agree
        [[1, 1], [1, 1, 1], [1, 0]],  # no error for all three: agree
        [[-1], [1, -1]],  # step 0 vs step 1: disagree
        [[1, 1, -1]],  # one annotator only: ignored
    ]

    # when / then
    assert first_error_agreement(items) == pytest.approx(2 / 3, abs=1e-12)
    assert first_error_agreement([[[1, -1]]]) is None
