"""Did a fluent rewrite of a long-thought draft keep what makes it a journey?

A rule-based check, recorded with every rewrite: each wrong answer the draft tried must still be
stated (more often than the problem and the correct path state it anyway), there must be at
least as many reflections (a "wait", "let me go back", ...), and the final answer must be the
draft's. Rewrites that fail it are kept but flagged, and left out of
``sft-journey`` unless asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from algorithms.answers import extract_answer
from algorithms.long_thought import LongThought
from algorithms.tree_search import Tree

# Words a reflection opens with in the drafts (long_thought.default_reflection) and in the
# journeys the report shows; each occurrence counts as one reflection.
_REFLECTION_CUES = re.compile(
    r"\b(?:wait|hmm|hold on|let me go back|let me reconsider|let me re-?check|"
    r"that(?:'s| is) (?:wrong|not right)|doesn't look right|does not look right|"
    r"i made (?:a|an) (?:mistake|error)|on second thought)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Fidelity:
    wrong_answers_missing: tuple[str, ...]
    reflections_expected: int
    reflections_found: int
    final_answer_expected: str | None
    final_answer_found: str | None
    final_answer_kept: bool

    @property
    def passed(self) -> bool:
        return (
            not self.wrong_answers_missing
            and self.reflections_found >= self.reflections_expected
            and self.final_answer_kept
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "wrong_answers_missing": list(self.wrong_answers_missing)}


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _mentions(text: str, answer: str) -> int:
    """How often ``answer`` stands in ``text`` on its own (``3`` is not in ``13`` or ``x3``)."""
    return len(re.findall(rf"(?<![0-9A-Za-z]){re.escape(answer)}(?![0-9A-Za-z])", text))


def check_rewrite(
    tree: Tree,
    thought: LongThought,
    rewrite: str,
    *,
    same_answer: Callable[[str, str], bool] | None = None,
) -> Fidelity:
    """Compare a rewrite with the draft walk it was made from. ``same_answer`` decides the
    final answer (the project's math grader); by default, equal up to whitespace."""
    same = same_answer or (lambda found, expected: _squeezed(found) == _squeezed(expected))
    dead_ends = [tree.node(e.node_id) for e in thought.events if e.kind == "wrong_leaf"]
    wrong_answers = {n.final_answer for n in dead_ends if n.final_answer}
    already_said = " ".join([tree.problem.text, *(tree.node(i).text for i in thought.path[1:])])
    expected = tree.node(thought.path[-1]).final_answer
    found = extract_answer(rewrite)
    return Fidelity(
        wrong_answers_missing=tuple(
            sorted(a for a in wrong_answers if _mentions(rewrite, a) <= _mentions(already_said, a))
        ),
        reflections_expected=len(dead_ends),
        reflections_found=len(_REFLECTION_CUES.findall(rewrite)),
        final_answer_expected=expected,
        final_answer_found=found,
        final_answer_kept=expected is None or (found is not None and same(found, expected)),
    )
