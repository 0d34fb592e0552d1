"""From a reasoning tree to long thoughts (O1-Journey): trial, error, reflection, backtrack.

A node is *correct-path* when it lies on a root path to any leaf graded correct. One long
thought is derived per correct path (the report's "one long thought per correct path"). At each
node of that path the walk makes at most K trials, the correct move included (the report's
constrained DFS: K=2 is "one trial on an incorrect path and one on the correct path"); the
other reading, K wrong detours before the correct move, is available as ``wrong_detours``.

A detour starts at a child that is not correct-path and that can reach a dead end, walks one
random such child per level, and stops at the first dead end: a node judged incorrect, or a
leaf that is wrong (a wrong final answer, or no answer and not judged correct). So a detour
never passes through or ends on a correct answer or a step the judge accepted and the K limit
pruned. The walk is a pure function of the tree, the path and the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Literal

from algorithms.tree_search import ROOT_ID, Tree, TreeNode

EventKind = Literal["step", "wrong_leaf", "backtrack"]
KMeaning = Literal["trials", "wrong_detours"]
K_MEANINGS: tuple[KMeaning, ...] = ("trials", "wrong_detours")


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

    def detours_at(self, node_id: int) -> int:
        """How many wrong detours the walk made from ``node_id`` (a node of the path)."""
        return sum(1 for e in self.events if e.kind == "backtrack" and e.node_id == node_id)


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


def correct_path_nodes(tree: Tree) -> frozenset[int]:
    """Every node on a root path to a correct leaf."""
    return frozenset(node for path in correct_paths(tree) for node in path)


def shortcut(tree: Tree) -> list[int] | None:
    """The first correct path: the direct solution without detours, or None."""
    paths = correct_paths(tree)
    return paths[0] if paths else None


def wrong_detours_allowed(k: int, k_meaning: KMeaning) -> int:
    """How many wrong detours K allows at one node of the correct path."""
    if k < 0 or (k_meaning == "trials" and k < 1):
        least = 1 if k_meaning == "trials" else 0
        raise ValueError(f"K must be at least {least} when it counts {k_meaning}, got {k}")
    if k_meaning not in K_MEANINGS:
        raise ValueError(f"unknown meaning of K {k_meaning!r}; use one of {K_MEANINGS}")
    return k - 1 if k_meaning == "trials" else k


def derive_long_thoughts(
    tree: Tree, *, k: int, seed: int, k_meaning: KMeaning = "trials", limit: int | None = None
) -> list[LongThought]:
    """One long thought per correct path (the first ``limit`` paths in leaf id order)."""
    paths = correct_paths(tree)[:limit]
    return [derive_long_thought(tree, path, k=k, seed=seed, k_meaning=k_meaning) for path in paths]


def derive_long_thought(
    tree: Tree, path: list[int], *, k: int, seed: int, k_meaning: KMeaning = "trials"
) -> LongThought:
    """Walk ``path`` (root to a correct leaf) with the wrong detours K allows before each step.

    The random choices depend on the seed and the path's leaf only, so a path's long thought
    stays the same when other correct paths come and go."""
    allowed = wrong_detours_allowed(k, k_meaning)
    rng = random.Random(f"{seed}/{path[-1]}")
    on_correct_path = correct_path_nodes(tree)
    reaches_dead_end = _dead_end_reachability(tree, on_correct_path)
    events: list[ThoughtEvent] = []
    for here, next_on_path in pairwise(path):
        starts = [
            child
            for child in tree.children(here)
            if child not in on_correct_path and reaches_dead_end(child)
        ]
        for start in rng.sample(starts, min(allowed, len(starts))):
            events.extend(_detour(tree, start, rng, reaches_dead_end))
            events.append(ThoughtEvent("backtrack", here))
        events.append(ThoughtEvent("step", next_on_path))
    return LongThought(path=tuple(path), events=tuple(events))


def is_dead_end(node: TreeNode, *, is_leaf: bool) -> bool:
    """Where a detour stops and reflects: a step judged incorrect, or a wrong leaf."""
    if node.is_correct is True:
        return False
    if node.judged_correct is False or (is_leaf and node.is_correct is False):
        return True
    return is_leaf and node.final_answer is None and node.judged_correct is not True


def _dead_end_reachability(tree: Tree, on_correct_path: frozenset[int]) -> Callable[[int], bool]:
    """Whether a walk from a node off the correct paths can stop at a dead end."""
    children = {node.id: tree.children(node.id) for node in tree.nodes}

    @cache
    def reaches(node_id: int) -> bool:
        if node_id in on_correct_path:
            return False
        kids = children[node_id]
        return is_dead_end(tree.node(node_id), is_leaf=not kids) or any(map(reaches, kids))

    return reaches


def _detour(
    tree: Tree, start: int, rng: random.Random, reaches_dead_end: Callable[[int], bool]
) -> list[ThoughtEvent]:
    """One chain from ``start`` down to the first dead end; it never branches."""
    events = [ThoughtEvent("step", start)]
    node_id = start
    while not is_dead_end(tree.node(node_id), is_leaf=not tree.children(node_id)):
        node_id = rng.choice([c for c in tree.children(node_id) if reaches_dead_end(c)])
        events.append(ThoughtEvent("step", node_id))
    events.append(ThoughtEvent("wrong_leaf", node_id))
    return events


def default_reflection(node: TreeNode) -> str:
    """The sentence said at a dead end: the judge's reason when it judged the step incorrect
    (a reason it gave for accepting a step would contradict the reflection)."""
    if node.reason and node.judged_correct is False:
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
