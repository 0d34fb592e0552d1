"""How often a sample reflects or backtracks, read from its text.

A model's sample has no recorded actions (a long thought derived from a tree has them, see
algorithms/long_thought.py), so what it does is read from the phrases a reasoning model uses
for it (O1-Journey's and the R1 reports' "wait", "let me check", "let me try again"):

- a **reflection** checks or doubts what was written ("wait", "let me check", "I made a
  mistake", "on second thought");
- a **backtrack** abandons it for another way ("let me try again", "start over", "go back",
  "alternatively", "another approach").

Whole words or phrases, case-insensitive, each occurrence counted once (a longer phrase wins
over a shorter one inside it). A count, not a judgement: the comparison page shows it beside
accuracy and length, before and after a run, for the same prompts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

REFLECTION_PHRASES: tuple[str, ...] = (
    "wait",
    "hmm",
    "let me check",
    "let me verify",
    "let me double-check",
    "let me double check",
    "double-check",
    "on second thought",
    "i made a mistake",
    "that's not right",
    "that is not right",
    "that's wrong",
    "that is wrong",
    "let me reconsider",
    "reconsider",
)
BACKTRACK_PHRASES: tuple[str, ...] = (
    "let me try again",
    "try again",
    "start over",
    "go back",
    "going back",
    "backtrack",
    "alternatively",
    "another approach",
    "a different approach",
    "let me redo",
)


def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile(
        r"(?<![\w-])(?:" + "|".join(re.escape(p) for p in ordered) + r")(?![\w-])",
        re.IGNORECASE,
    )


_REFLECTION = _pattern(REFLECTION_PHRASES)
_BACKTRACK = _pattern(BACKTRACK_PHRASES)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})


@dataclass(frozen=True)
class Behaviour:
    reflections: int
    backtracks: int


def behaviour_of(text: str) -> Behaviour:
    """The reflections and backtracks a sample's text says it makes."""
    plain = text.translate(_APOSTROPHES)
    return Behaviour(
        reflections=len(_REFLECTION.findall(plain)), backtracks=len(_BACKTRACK.findall(plain))
    )


@dataclass(frozen=True)
class BehaviourSummary:
    counted: int  # samples with counts (an evaluation made before counting has none)
    reflecting: float | None  # share of counted samples with at least one reflection
    backtracking: float | None  # share with at least one backtrack
    reflections_per_sample: float | None
    backtracks_per_sample: float | None


def summarize_behaviour(behaviours: Sequence[Behaviour | None]) -> BehaviourSummary:
    """Shares and means over the samples that were counted (None: not counted)."""
    counted = [b for b in behaviours if b is not None]

    def share(values: list[float]) -> float | None:
        return sum(values) / len(counted) if counted else None

    return BehaviourSummary(
        counted=len(counted),
        reflecting=share([float(b.reflections > 0) for b in counted]),
        backtracking=share([float(b.backtracks > 0) for b in counted]),
        reflections_per_sample=share([float(b.reflections) for b in counted]),
        backtracks_per_sample=share([float(b.backtracks) for b in counted]),
    )
