"""Small server-side SVG bar charts: labels and values in, escaped markup out (no script)."""

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR_HEIGHT = 22
LABEL_WIDTH = 110
BAR_WIDTH = 320
VALUE_WIDTH = 70


def bar_chart(labels: Sequence[str], values: Sequence[float], *, testid: str) -> SafeString:
    """Horizontal bars, one per label, scaled to the largest value; values printed beside."""
    top = max(values, default=0.0) or 1.0
    height = BAR_HEIGHT * max(len(labels), 1) + 4
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    rows = format_html_join(
        "",
        '<g class="bar" data-label="{}" data-value="{}">'
        '<text x="0" y="{}" class="bar-label">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" class="bar-rect"></rect>'
        '<text x="{}" y="{}" class="bar-value">{}</text></g>',
        (
            (
                label,
                f"{value:.4g}",
                i * BAR_HEIGHT + 16,
                label,
                LABEL_WIDTH,
                i * BAR_HEIGHT + 4,
                round(BAR_WIDTH * value / top, 1),
                BAR_HEIGHT - 6,
                LABEL_WIDTH + BAR_WIDTH + 6,
                i * BAR_HEIGHT + 16,
                f"{value:.3g}",
            )
            for i, (label, value) in enumerate(zip(labels, values, strict=True))
        ),
    )
    return format_html(
        '<svg class="bar-chart" data-testid="{}" role="img" viewBox="0 0 {} {}" width="{}" '
        'height="{}" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        testid,
        width,
        height,
        width,
        height,
        rows,
    )
