"""Did a fluent rewrite of a long-thought draft keep what makes it a journey?

A rule-based check, recorded with every rewrite, of the O1-Journey report's rules:

- **every trial, in order**: each detour of the draft (the steps it walked, down to the wrong
  node it reflected on) is still worked through: at least half of its *own words* (words and
  numbers the problem and the correct path do not use) appear, after the previous trial's, and
  a wrong answer it reached is still stated (more often than the problem and the correct path
  state it anyway). Naming a wrong answer and waving it away ("Wait, is it 5? Wait, no.") is
  no trial;
- **each reflection and backtrack**: at least as many reflections ("wait", "that's wrong", ...)
  as the draft's wrong nodes, one after each trial, and as many ways back ("let me go back",
  "try another way", ...) as its backtracks;
- **the final answer unchanged** (the project's math grader decides);
- **nothing right called wrong**: no sentence that states the correct answer or a correct-path
  step's own words is followed, in it or the next sentence, by a word of rejection ("wrong",
  "doesn't look right", ...) that no trial's words explain.

Rewrites that fail are kept but flagged with their ``reasons``, shown on the thought page, and
left out of ``sft-journey`` unless asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
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
# Words that take the walk back (long_thought.backtrack_sentence, going_back_sentence).
_BACKTRACK_CUES = re.compile(
    r"\b(?:go(?:ing)? back|back to|start over|start again|try again|another (?:way|approach)|"
    r"different approach|redo|re-do|return to|instead)\b",
    re.IGNORECASE,
)
# Words that call what came before wrong.
_REJECTION_CUES = re.compile(
    r"\b(?:wrong|incorrect|not (?:right|correct)|(?:doesn't|does not|can't|cannot) "
    r"(?:look right|be right|be correct|work|be)|mistake|error)\b",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Words too common to tell one step from another.
_COMMON = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by for from get gives giving i if in is it its let me of on or so "
        "that the then this to us we with would which boxed frac text answer final step",
    )
)
TRIAL_SHARE = 0.5  # of a trial's own words the rewrite must keep


def _words(text: str) -> list[tuple[str, int]]:
    """(word, where it starts) for every word and number that is not too common."""
    found = ((m.group().lower(), m.start()) for m in _WORDS.finditer(text))
    return [(word, start) for word, start in found if word not in _COMMON]


def _all_positions(text: str) -> dict[str, list[int]]:
    """Each word and each pair of neighbouring words ("x 3": "x = 3" is not "x = 2"), with
    where it stands in ``text``, in order."""
    words = _words(text)
    pairs = [(f"{a} {b}", start) for (a, start), (b, _) in pairwise(words)]
    positions: dict[str, list[int]] = {}
    for feature, start in sorted([*words, *pairs], key=lambda item: item[1]):
        positions.setdefault(feature, []).append(start)
    return positions


def _features(text: str) -> set[str]:
    return set(_all_positions(text))


def _similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


@dataclass(frozen=True)
class Fidelity:
    trials_expected: int
    trials_missing: tuple[int, ...]  # the wrong nodes (tree ids) whose trial is missing
    trials_out_of_order: bool
    wrong_answers_missing: tuple[str, ...]
    reflections_expected: int
    reflections_found: int
    reflections_out_of_order: bool
    backtracks_expected: int
    backtracks_found: int
    correct_called_wrong: tuple[str, ...]  # the sentences that do it
    final_answer_expected: str | None
    final_answer_found: str | None
    final_answer_kept: bool

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the rewrite is not faithful, for people; empty when it is."""
        said: list[str] = []
        if self.trials_missing:
            nodes = ", ".join(str(node) for node in self.trials_missing)
            said.append(f"trials missing (wrong nodes {nodes})")
        if self.trials_out_of_order:
            said.append("trials out of the draft's order")
        if self.wrong_answers_missing:
            said.append(f"wrong answers no longer stated: {', '.join(self.wrong_answers_missing)}")
        if self.reflections_found < self.reflections_expected or self.reflections_out_of_order:
            said.append(
                f"reflections: {self.reflections_found} found, {self.reflections_expected} "
                "expected, one after each trial"
            )
        if self.backtracks_found < self.backtracks_expected:
            said.append(
                f"backtracks: {self.backtracks_found} found, {self.backtracks_expected} expected"
            )
        if self.correct_called_wrong:
            said.append(f"a correct step or answer called wrong: {self.correct_called_wrong[0]!r}")
        if not self.final_answer_kept:
            said.append(
                f"final answer {self.final_answer_found or 'missing'}, "
                f"expected {self.final_answer_expected}"
            )
        return tuple(said)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "trials_missing": list(self.trials_missing),
            "wrong_answers_missing": list(self.wrong_answers_missing),
            "correct_called_wrong": list(self.correct_called_wrong),
            "reasons": list(self.reasons),
        }


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _mentions(text: str, answer: str) -> int:
    """How often ``answer`` stands in ``text`` on its own (``3`` is not in ``13`` or ``x3``)."""
    return len(_answer_pattern(answer).findall(text))


def _answer_pattern(answer: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z.]){re.escape(answer.strip())}(?![0-9A-Za-z]|\.\d)")


@dataclass(frozen=True)
class _Trial:
    node_id: int  # the wrong node the detour ends on
    features: frozenset[str]  # its own words and word pairs: not in the problem or path
    steps: tuple[frozenset[str], ...]  # every word and pair of each of the detour's steps
    answer: str | None


def _trials(tree: Tree, thought: LongThought, known: set[str]) -> list[_Trial]:
    """Each detour of the walk: the steps since the last point on the path, its wrong node."""
    on_path = set(thought.path)
    trials: list[_Trial] = []
    walked: list[int] = []
    for event in thought.events:
        if event.kind == "step" and event.node_id not in on_path:
            walked.append(event.node_id)
        elif event.kind == "wrong_leaf":
            node = tree.node(event.node_id)
            texts = [tree.node(i).text for i in walked] or [node.text]
            steps = tuple(frozenset(_features(text)) for text in texts)
            own = frozenset().union(*steps) - known
            trials.append(_Trial(node.id, own, steps, node.final_answer))
            walked = []
    return trials


def _first_at(positions: dict[str, list[int]], features: Iterable[str], start: int) -> int | None:
    """Where the earliest of ``features`` stands at or after ``start``."""
    found = [
        next((p for p in positions.get(feature, ()) if p >= start), None) for feature in features
    ]
    kept = [p for p in found if p is not None]
    return min(kept) if kept else None


def _anchor(trial: _Trial) -> frozenset[str]:
    """What marks where a trial stands: its own words, else its wrong answer."""
    return trial.features or frozenset({trial.answer.lower()} if trial.answer else ())


def _kept(features: set[str], trial: _Trial) -> bool:
    if not trial.features:  # nothing of its own to look for: its wrong answer decides
        return True
    return len(trial.features & features) >= TRIAL_SHARE * len(trial.features)


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def _called_wrong(
    sentences: Sequence[str],
    right_answer: str | None,
    right_steps: Sequence[set[str]],
    trials: Sequence[_Trial],
) -> list[str]:
    """Sentences about the correct answer or a correct-path step (closer to one than to any
    trial) that a word of rejection follows, in the sentence itself or the next, where the
    rejecting sentence is about no trial."""

    def closest_trial(features: set[str]) -> float:
        return max(
            (_similarity(features, set(step)) for t in trials for step in t.steps), default=0.0
        )

    def about_a_trial(features: set[str]) -> bool:
        # its own words, close to one of its steps, or nothing a trial's step does not say
        return (
            any(t.features & features for t in trials)
            or closest_trial(features) >= 0.5
            or any(features and features <= step for t in trials for step in t.steps)
        )

    called: list[str] = []
    for index, sentence in enumerate(sentences):
        features = _features(sentence)
        if about_a_trial(features):
            continue
        to_steps = max((_similarity(features, step) for step in right_steps), default=0.0)
        states = (right_answer is not None and _mentions(sentence, right_answer) > 0) or (
            to_steps >= 0.5 and to_steps > closest_trial(features)
        )
        if not states:
            continue
        for rejecting in sentences[index : index + 2]:
            if _REJECTION_CUES.search(rejecting) and not about_a_trial(_features(rejecting)):
                called.append(sentence.strip())
                break
    return called


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
    path_texts = [tree.node(i).text for i in thought.path[1:]]
    already_said = " ".join([tree.problem.text, *path_texts])
    known = (_features(tree.problem.text)) | {f for t in path_texts for f in _features(t)}
    trials = _trials(tree, thought, known)
    positions = _all_positions(rewrite)

    missing = tuple(t.node_id for t in trials if not _kept(set(positions), t))
    # Where each kept trial starts, each after the one before; then as many reflections after
    # each trial's start as trials from there on (one after each).
    cursor, out_of_order, starts = 0, False, []
    for trial in (t for t in trials if t.node_id not in missing and _anchor(t)):
        position = _first_at(positions, _anchor(trial), cursor)
        if position is None:
            out_of_order = True
            continue
        starts.append(position)
        cursor = position + 1
    cues = [m.start() for m in _REFLECTION_CUES.finditer(rewrite)]
    reflections_out_of_order = any(
        sum(1 for cue in cues if cue > start) < len(starts) - index
        for index, start in enumerate(starts)
    )

    wrong_answers = {t.answer for t in trials if t.answer}
    expected = tree.node(thought.path[-1]).final_answer
    found = extract_answer(rewrite)
    right_steps = [(_features(text)) for text in path_texts]
    right_answer = expected if expected not in wrong_answers else None
    return Fidelity(
        trials_expected=len(trials),
        trials_missing=missing,
        trials_out_of_order=out_of_order,
        wrong_answers_missing=tuple(
            sorted(a for a in wrong_answers if _mentions(rewrite, a) <= _mentions(already_said, a))
        ),
        reflections_expected=len(trials),
        reflections_found=len(_REFLECTION_CUES.findall(rewrite)),
        reflections_out_of_order=reflections_out_of_order,
        backtracks_expected=sum(1 for e in thought.events if e.kind == "backtrack"),
        backtracks_found=len(_BACKTRACK_CUES.findall(rewrite)),
        correct_called_wrong=tuple(
            _called_wrong(_sentences(rewrite), right_answer, right_steps, trials)
        ),
        final_answer_expected=expected,
        final_answer_found=found,
        final_answer_kept=expected is None or (found is not None and same(found, expected)),
    )
