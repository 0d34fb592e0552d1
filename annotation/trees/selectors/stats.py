"""Statistics of outputs: per method their actions, per level their length and keywords (the
O1-Journey analysis of o1's outputs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from annotation.core.models import Project
from annotation.trees.selectors.keywords import keyword_pattern
from annotation.trees.selectors.methods import LONG_THOUGHT_ORIGINS, METHODS, method_of
from annotation.trees.selectors.outputs import OutputFilter, output_traces, outputs
from annotation.trees.selectors.thoughts import actions_of


@dataclass
class MethodStats:
    """Long thoughts of one method (and kind) and the actions they record."""

    method: str
    kind: str
    outputs: int = 0
    counted: int = 0  # outputs that record their actions
    reflections: int = 0
    backtracks: int = 0
    correct: int = 0

    @property
    def label(self) -> str:
        name = METHODS.get(self.method, self.method)
        return f"{name} · {self.kind}" if self.method == "tree" else name

    @property
    def mean_reflections(self) -> float | None:
        return self.reflections / self.counted if self.counted else None

    @property
    def mean_backtracks(self) -> float | None:
        return self.backtracks / self.counted if self.counted else None


def method_stats(project: Project, flt: OutputFilter, *, limit: int = 5000) -> list[MethodStats]:
    """Per method, the long thoughts among the filtered outputs and their reflections and
    backtracks (a tree's drafts and rewrites apart: a rewrite keeps its draft's walk)."""
    rows = (
        output_traces(project, flt)
        .filter(origin__in=LONG_THOUGHT_ORIGINS)
        .only("origin", "metadata", "is_correct")
        .order_by("id")[:limit]
    )
    by_key: dict[tuple[str, str], MethodStats] = {}
    for trace in rows:
        method = method_of(trace) or ""
        kind = str((trace.metadata or {}).get("kind", "")) if method == "tree" else ""
        stats = by_key.setdefault((method, kind), MethodStats(method, kind))
        stats.outputs += 1
        stats.correct += trace.is_correct is True
        if (actions := actions_of(trace)) is not None:
            stats.counted += 1
            stats.reflections += actions.reflections
            stats.backtracks += actions.backtracks
    order = {method: rank for rank, method in enumerate(METHODS)}
    return [by_key[k] for k in sorted(by_key, key=lambda k: (order.get(k[0], len(order)), k))]


@dataclass
class LevelStats:
    level: int | None
    outputs: int = 0
    tokens: int = 0
    lines: int = 0
    keywords: Counter[str] = field(default_factory=Counter)

    @property
    def mean_tokens(self) -> float:
        return self.tokens / self.outputs if self.outputs else 0.0

    @property
    def mean_lines(self) -> float:
        return self.lines / self.outputs if self.outputs else 0.0

    def keyword_rate(self, keyword: str) -> float:
        """Mean occurrences per output."""
        return self.keywords[keyword] / self.outputs if self.outputs else 0.0


def count_tokens(text: str) -> int:
    """Whitespace tokens: the same count whatever model wrote the text."""
    return len(text.split())


def count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def output_stats(
    project: Project, flt: OutputFilter, keywords: Sequence[str], *, limit: int = 5000
) -> list[LevelStats]:
    """Token and line counts and keyword frequencies of outputs, by problem level."""
    pattern = keyword_pattern(keywords)
    by_level: dict[int | None, LevelStats] = {}
    for row in outputs(project, flt, limit=limit):
        level = row.trace.problem.level
        stats = by_level.setdefault(level, LevelStats(level))
        stats.outputs += 1
        tokens = row.trace.metadata.get("tokens")
        stats.tokens += int(tokens) if isinstance(tokens, int) else count_tokens(row.text)
        stats.lines += count_lines(row.text)
        if pattern is not None:
            stats.keywords.update(m.group(1).lower() for m in pattern.finditer(row.text))
    return [by_level[k] for k in sorted(by_level, key=lambda v: (v is None, v or 0))]
