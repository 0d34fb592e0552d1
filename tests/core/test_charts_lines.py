"""The axes of the server-drawn plots: ticks at round numbers, each labelled differently."""

import itertools
import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.core.charts.lines import Series, line_plot, nice_ticks, tick_labels


def tick_texts(svg: str, anchor: str) -> list[str]:
    return re.findall(rf'text-anchor="{anchor}"[^>]*font-size="11">([^<]*)</text>', svg)


def test_a_learning_rate_axis_reads_its_values():
    # given a learning rate decaying from 5e-5 (the run page's second plot)
    series = [Series("learning rate", [(1.0, 5e-5), (2.0, 2.5e-5), (3.0, 0.0)])]
    # when it is drawn
    svg = line_plot(
        series,
        title="Learning rate",
        x_label="optimizer step",
        y_label="learning rate",
        x_range=(0.0, 3.0),
        y_range=(0.0, 5.25e-5),
    )
    # then its y ticks say different numbers, and its x axis has ticks too
    assert tick_texts(svg, "end") == ["0", "1e-5", "2e-5", "3e-5", "4e-5", "5e-5"]
    assert tick_texts(svg, "middle") == ["0", "0.5", "1", "1.5", "2", "2.5", "3"]


def test_whole_ticks_for_optimizer_steps():
    assert nice_ticks(0, 3, whole=True) == [0, 1, 2, 3]
    assert nice_ticks(0, 120, whole=True) == [0, 20, 40, 60, 80, 100, 120]


spans = st.tuples(
    st.floats(-1e9, 1e9, allow_nan=False), st.floats(1e-9, 1e9, allow_nan=False)
).filter(lambda t: t[1] > abs(t[0]) * 1e-6)  # a range wider than a millionth of its values:
# the float spacing near a tick is then under 1e-9 of the step, which the checks below allow


@settings(max_examples=2000)
@given(spans)
def test_ticks_are_evenly_spaced_inside_the_range_and_labelled_apart(span):
    low, width = span
    high = low + width
    ticks = nice_ticks(low, high)
    assert 2 <= len(ticks) <= 11
    assert all(low <= t <= high for t in ticks)
    steps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(math.isclose(s, steps[0], rel_tol=1e-6) for s in steps)
    labels = tick_labels(ticks)
    assert len(set(labels)) == len(labels)
    assert all(
        abs(float(label) - t) <= steps[0] / 100 for label, t in zip(labels, ticks, strict=False)
    )
