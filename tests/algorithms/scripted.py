"""Drivers for the self-steering loops with scripted models: replies written in the test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from algorithms.steering import Prompt, Response
from algorithms.tree_search import ProblemSpec


@dataclass
class Grader:
    """Grades answers against ``truth`` (problem key -> answer; a missing key cannot be graded)
    and records each call's answers."""

    truth: dict[str, str]
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, pairs: Sequence[tuple[str, ProblemSpec]]) -> list[bool | None]:
        self.calls.append([answer for answer, _ in pairs])
        return [
            None if problem.key not in self.truth else answer == self.truth[problem.key]
            for answer, problem in pairs
        ]


@dataclass
class Script:
    """Replies per (problem key, role), given out in order; each costs ``tokens``."""

    replies: dict[tuple[str, str], list[str]]
    tokens: int = 1

    def reply(self, states: Sequence[Any], prompt: Prompt) -> Response:
        key = (states[prompt.index].problem.key, prompt.role)
        return Response(self.replies[key].pop(0), self.tokens)


def drive(
    states: list[Any],
    prompts: Callable[[list[Any]], list[Prompt]],
    advance: Callable[[list[Any], list[Response]], list[Any]],
    reply: Callable[[list[Any], Prompt], Response],
    max_turns: int = 100,
) -> tuple[list[Any], list[list[Prompt]]]:
    """Run turns until no prompt is left: the final states and every turn's prompts."""
    turns: list[list[Prompt]] = []
    while batch := prompts(states):
        assert len(turns) < max_turns, "the loop did not end"
        turns.append(batch)
        states = advance(states, [reply(states, prompt) for prompt in batch])
    return states, turns
