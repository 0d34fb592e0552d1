"""From a reasoning tree to a long thought (O1-Journey): trial, error, reflection, backtrack.

The walk follows one correct root-to-leaf path. Before taking each step of that path it tries up
to K sibling branches that leave the path, follows each down to a leaf by one random child per
level, treats that leaf as a mistake and backtracks. The walk is a pure function of the tree and
the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from algorithms.tree_search import ROOT_ID, Tree, TreeNode

EventKind = Literal["step", "wrong_leaf", "backtrack"]


@dataclass(frozen=True)
class ThoughtEvent:
    """``step`` walks to ``node_id``; ``wrong_leaf`` marks ``node_id`` as a dead end;
    ``backtrack`` returns to ``node_id`` (a node of the correct path)."""

    kind: EventKind
    node_id: int


@dataclass(frozen=True)
class LongThought:
    path: tuple[int, ...]  # the correct root-to-leaf path the walk ends on, root included
    events: tuple[ThoughtEvent, ...]

    @property
    def walked(self) -> list[int]:
        """Node ids in the order they were walked, wrong branches included, root excluded."""
        return [event.node_id for event in self.events if event.kind == "step"]


def correct_paths(tree: Tree) -> list[list[int]]:
    """Root-to-leaf id paths ending on a leaf graded correct, in leaf id order.

    Ids grow level by level, so shorter paths come first.
    """
    parents = {node.parent for node in tree.nodes}
    return [
        tree.path(node.id)
        for node in tree.nodes
        if node.is_correct is True and node.id not in parents
    ]


def shortcut(tree: Tree) -> list[int] | None:
    """The first correct path: the direct solution without detours, or None."""
    paths = correct_paths(tree)
    return paths[0] if paths else None


def derive_long_thought(tree: Tree, *, trials: int, seed: int) -> LongThought | None:
    """Walk the shortcut with up to ``trials`` failed detours before each of its steps."""
    if trials < 0:
        raise ValueError("trials must be at least 0")
    path = shortcut(tree)
    if path is None:
        return None
    rng = random.Random(seed)
    events: list[ThoughtEvent] = []
    for here, next_on_path in pairwise(path):
        off_path = [child for child in tree.children(here) if child != next_on_path]
        for start in rng.sample(off_path, min(trials, len(off_path))):
            events.extend(_trial(tree, start, rng))
            events.append(ThoughtEvent("backtrack", here))
        events.append(ThoughtEvent("step", next_on_path))
    return LongThought(path=tuple(path), events=tuple(events))


def _trial(tree: Tree, start: int, rng: random.Random) -> list[ThoughtEvent]:
    """A single chain from ``start`` down to a leaf: off the path nodes never branch."""
    events = [ThoughtEvent("step", start)]
    node_id = start
    while children := tree.children(node_id):
        node_id = rng.choice(children)
        events.append(ThoughtEvent("step", node_id))
    events.append(ThoughtEvent("wrong_leaf", node_id))
    return events


def default_reflection(node: TreeNode) -> str:
    """The sentence said on reaching a wrong leaf; the judge's reason when there is one."""
    if node.reason:
        return f"Wait, this doesn't look right: {node.reason.strip().rstrip('.')}."
    if node.final_answer is not None:
        # As math, so that an answer such as \frac{29}{3} renders like the steps around it.
        return f"Wait, the answer ${node.final_answer.strip()}$ doesn't look right."
    return "Wait, this doesn't look right."


def backtrack_sentence(tree: Tree, node_id: int) -> str:
    if node_id == ROOT_ID:
        return "Let me go back to the beginning and try a different approach."
    depth = tree.node(node_id).depth
    return f"Let me go back to where I was after step {depth} and try a different approach."


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a draft: a walked step (``kind`` step) or the reflection and backtrack
    said after the wrong leaf ``node_id`` (``kind`` reflection)."""

    kind: Literal["step", "reflection"]
    node_id: int
    text: str


def draft_paragraphs(
    tree: Tree,
    thought: LongThought,
    *,
    reflection: Callable[[TreeNode], str] | None = None,
) -> list[Paragraph]:
    """The long thought's paragraphs, each with the tree node it comes from."""
    reflect = reflection or default_reflection
    paragraphs: list[Paragraph] = []
    for event in thought.events:
        node = tree.node(event.node_id)
        if event.kind == "step":
            paragraphs.append(Paragraph("step", node.id, node.text))
        elif event.kind == "wrong_leaf":
            paragraphs.append(Paragraph("reflection", node.id, reflect(node)))
        else:
            # Always follows a wrong leaf: reflection and way back read as one paragraph.
            last = paragraphs[-1]
            text = f"{last.text} {backtrack_sentence(tree, node.id)}"
            paragraphs[-1] = Paragraph(last.kind, last.node_id, text)
    return paragraphs


def render_draft(
    tree: Tree,
    thought: LongThought,
    *,
    reflection: Callable[[TreeNode], str] | None = None,
) -> str:
    """The long thought as text: one paragraph per step, one per reflection and backtrack."""
    return "\n\n".join(p.text for p in draft_paragraphs(tree, thought, reflection=reflection))
