"""Line plots as inline SVG, rendered on the server (no chart library, nothing from a CDN).

Every text that reaches the markup goes through format_html, so series names (which people
choose) are escaped.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 560, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 48
COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


def _n(value: float) -> str:
    """A coordinate as text (format_html turns its arguments into strings before formatting)."""
    return f"{value:.1f}"


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    span = high - low or 1.0
    return start + (value - low) / span * (end - start)


def line_plot(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float] = (0.0, 1.0),
    x_ticks: Sequence[float] = (),
    log_x: bool = False,
    diagonal: bool = False,
) -> SafeString:
    """An SVG with one polyline (and its points) per series, axes, ticks and a legend."""

    def fx(x: float) -> float:
        low, high = x_range
        if log_x:
            x, low, high = math.log2(x), math.log2(low), math.log2(high)
        return _scale(x, low, high, LEFT, WIDTH - RIGHT)

    def fy(y: float) -> float:
        return _scale(y, *y_range, HEIGHT - BOTTOM, TOP)

    parts: list[str] = []
    bottom, top = HEIGHT - BOTTOM, TOP
    parts.append(
        format_html(
            '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#333"/>'
            '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#333"/>',
            LEFT,
            bottom,
            WIDTH - RIGHT,
            bottom,
            LEFT,
            bottom,
            LEFT,
            top,
        )
    )
    for tick in (y_range[0] + i * (y_range[1] - y_range[0]) / 4 for i in range(5)):
        parts.append(
            format_html(
                '<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>'
                '<text x="{}" y="{y}" text-anchor="end" dominant-baseline="middle" '
                'font-size="11">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                LEFT - 6,
                f"{tick:.2f}",
                y=_n(fy(tick)),
            )
        )
    for tick in x_ticks:
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="11">{}</text>',
                _n(fx(tick)),
                bottom + 16,
                f"{tick:g}",
            )
        )
    if diagonal:
        parts.append(
            format_html(
                '<line class="diagonal" x1="{}" y1="{}" x2="{}" y2="{}" '
                'stroke="#999" stroke-dasharray="4 4"/>',
                _n(fx(x_range[0])),
                _n(fy(y_range[0])),
                _n(fx(x_range[1])),
                _n(fy(y_range[1])),
            )
        )
    for index, one in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        coordinates = [(fx(x), fy(y)) for x, y in one.points]
        points = " ".join(f"{_n(x)},{_n(y)}" for x, y in coordinates)
        dash = ' stroke-dasharray="6 3"' if one.dashed else ""
        parts.append(
            format_html(
                '<g class="series" data-series="{}"><title>{}</title>'
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{}/>{}</g>',
                one.name,
                one.name,
                points,
                colour,
                mark_safe(dash),  # a constant of this function
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="3" fill="{}"/>',
                    ((_n(x), _n(y), colour) for x, y in coordinates),
                ),
            )
        )
        parts.append(
            format_html(
                '<g class="legend"><rect x="{}" y="{}" width="12" height="3" fill="{}"/>'
                '<text x="{}" y="{}" font-size="11" dominant-baseline="middle">{}</text></g>',
                WIDTH + 8,
                TOP + index * 16 + 4,
                colour,
                WIDTH + 24,
                TOP + index * 16 + 5,
                one.name,
            )
        )
    legend_width = 16 + 7 * max((len(s.name) for s in series), default=0)
    return format_html(
        '<svg class="plot" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" '
        'viewBox="0 0 {} {}" width="{}" height="{}">{}'
        '<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>'
        '<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" '
        'font-size="12">{}</text></svg>',
        title,
        WIDTH + legend_width,
        HEIGHT,
        WIDTH + legend_width,
        HEIGHT,
        mark_safe("".join(parts)),  # each part was built by format_html above
        _n((LEFT + WIDTH - RIGHT) / 2),
        HEIGHT - 10,
        x_label,
        _n((TOP + HEIGHT - BOTTOM) / 2),
        y_label,
    )
