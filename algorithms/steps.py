"""Splitting a solution text into steps and joining steps back into a text."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Display math is never split, even when it spans blank lines.
_DISPLAY_MATH = re.compile(
    r"\$\$.*?\$\$|\\\[.*?\\\]|\\begin\{(?P<environment>[^}]+)\}.*?\\end\{(?P=environment)\}",
    re.DOTALL,
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_NEWLINE = re.compile(r"\n")


def split_steps(text: str, delimiter: str | None = None) -> list[str]:
    """The stripped, non-empty steps of `text`.

    Splits on `delimiter` when given (e.g. "\\n\\n" or Math-Shepherd's "ки"), else on blank lines
    when there are any, else on single newlines; never inside ``$$...$$``, ``\\[...\\]`` or a
    ``\\begin{...}...\\end{...}`` environment.
    """
    protected = [match.span() for match in _DISPLAY_MATH.finditer(text)]
    if delimiter:
        separator = re.compile(re.escape(delimiter))
    elif _split_points(_BLANK_LINE, text, protected):
        separator = _BLANK_LINE
    else:
        separator = _NEWLINE
    pieces = []
    start = 0
    for split_start, split_end in _split_points(separator, text, protected):
        pieces.append(text[start:split_start])
        start = split_end
    pieces.append(text[start:])
    return [piece.strip() for piece in pieces if piece.strip()]


def join_steps(steps: Sequence[str], delimiter: str = "\n\n") -> str:
    """The steps joined into one text, the inverse of `split_steps` with the same delimiter."""
    return delimiter.join(steps)


def _split_points(
    separator: re.Pattern[str], text: str, protected: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    return [
        match.span()
        for match in separator.finditer(text)
        if not any(
            match.start() < block_end and match.end() > block_start
            for block_start, block_end in protected
        )
    ]
