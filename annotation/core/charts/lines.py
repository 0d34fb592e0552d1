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


def nice_ticks(low: float, high: float, *, most: int = 6, whole: bool = False) -> list[float]:
    """Ticks at round numbers (1, 2, 2.5 or 5 times a power of ten apart; whole numbers only
    if `whole`) inside [low, high], at most `most` + 1 of them."""
    if not high > low:
        return [low]
    raw = (high - low) / most
    power = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)
    step = next(m * power for m in steps if m * power >= raw * (1 - 1e-9))
    if whole:
        step = max(step, 1)
    digits = 2 - math.floor(math.log10(step))
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    # Kept inside the range: k * step of the first or last tick can land an ulp outside it.
    return [min(max(round(k * step, digits), low), high) for k in range(first, last + 1)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """The shortest labels that tell the ticks apart and each read as its tick: decimals as
    many as needed ("0.5", "1"), and powers of ten for tiny values ("2e-5", a learning rate)."""
    biggest = max((abs(t) for t in ticks), default=0.0)
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else biggest or 1.0
    scientific = 0 < biggest < 1e-3
    for digits in range(16):
        labels = [_sci(t, digits) if scientific else _fixed(t, digits) for t in ticks]
        if len(set(labels)) == len(labels) and all(
            abs(float(label) - t) <= step / 100 for label, t in zip(labels, ticks, strict=True)
        ):
            return labels
    return [repr(t) for t in ticks]


def _fixed(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def _sci(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}e{int(exponent)}"


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
    """An SVG with one polyline (and its points) per series, axes, ticks and a legend. The
    y ticks, and the x ticks unless given (or the x axis is logarithmic), are round numbers."""
    if not x_ticks and not log_x:
        x_ticks = nice_ticks(*x_range)

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
    y_ticks = nice_ticks(*y_range)
    for tick, label in zip(y_ticks, tick_labels(y_ticks), strict=True):
        parts.append(
            format_html(
                '<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>'
                '<text x="{}" y="{y}" text-anchor="end" dominant-baseline="middle" '
                'font-size="11">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                LEFT - 6,
                label,
                y=_n(fy(tick)),
            )
        )
    for tick, label in zip(x_ticks, tick_labels(x_ticks), strict=True):
        parts.append(
            format_html(
                '<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#333"/>'
                '<text x="{x}" y="{}" text-anchor="middle" font-size="11">{}</text>',
                bottom,
                bottom + 4,
                bottom + 16,
                label,
                x=_n(fx(tick)),
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
