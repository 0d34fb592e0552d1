"""The keywords highlighted in long thoughts and counted in the outputs' statistics."""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_KEYWORDS = (
    "wait",
    "alternatively",
    "therefore",
    "let me compute",
    "consider",
    "if",
    "possible",
)


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive; longer phrases first so "let me compute" wins over "if"."""
    words = sorted({k.strip().lower() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def parse_keywords(raw: str | None) -> list[str]:
    if not raw:
        return list(DEFAULT_KEYWORDS)
    return [k.strip() for k in raw.split(",") if k.strip()]
