"""From a reasoning tree to long thoughts (O1-Journey): trial, error, reflection, backtrack.

A node is *correct-path* when it lies on a root path to any leaf graded correct. One long
thought is derived per correct path (the report's "one long thought per correct path"). At each
node of that path the walk makes at most K trials, the correct move included (the report's
constrained DFS: K=2 is "one trial on an incorrect path and one on the correct path"); the
other reading, K wrong detours before the correct move, is available as ``wrong_detours``.

A detour starts at a child that is not correct-path and that can reach a dead end, walks one
random such child per level, and stops at the first dead end: a node with a recorded wrong
verdict (``TreeNode.wrong``: an answer checked wrong, the judge's "incorrect", a PRM score under
the job's threshold, a critic's rejection). A node the beam pruned by rank alone is no dead end,
so a detour never ends on it, nor on a correct answer. A walk whose path offers no detour makes
no trial (``LongThought.trials`` is 0): it is a shortcut, not a journey, and journey exports
leave it out by default. The walk is a pure function of the tree, the path and the seed.
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

    @property
    def trials(self) -> int:
        """Wrong nodes the walk reflected on."""
        return sum(1 for event in self.events if event.kind == "wrong_leaf")

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


def is_dead_end(node: TreeNode) -> bool:
    """Where a detour stops and reflects: a node with a recorded wrong verdict, nowhere else."""
    return node.wrong is not None


def _dead_end_reachability(tree: Tree, on_correct_path: frozenset[int]) -> Callable[[int], bool]:
    """Whether a walk from a node off the correct paths can stop at a dead end."""
    children = {node.id: tree.children(node.id) for node in tree.nodes}

    @cache
    def reaches(node_id: int) -> bool:
        if node_id in on_correct_path:
            return False
        kids = children[node_id]
        return is_dead_end(tree.node(node_id)) or any(map(reaches, kids))

    return reaches


def _detour(
    tree: Tree, start: int, rng: random.Random, reaches_dead_end: Callable[[int], bool]
) -> list[ThoughtEvent]:
    """One chain from ``start`` down to the first dead end; it never branches."""
    events = [ThoughtEvent("step", start)]
    node_id = start
    while not is_dead_end(tree.node(node_id)):
        node_id = rng.choice([c for c in tree.children(node_id) if reaches_dead_end(c)])
        events.append(ThoughtEvent("step", node_id))
    events.append(ThoughtEvent("wrong_leaf", node_id))
    return events


def default_reflection(node: TreeNode) -> str:
    """The sentence said at a dead end: the judge's reason when it judged the step incorrect
    (a reason it gave for accepting a step would contradict the reflection)."""
    if node.reason and node.judged_correct is False:
        return f"Wait, this doesn't look right: {node.reason.strip().rstrip('.')}."
    if node.wrong is not None and node.wrong.source == "limit":
        return "Wait, this is not getting me to an answer."
    if node.final_answer is not None:
        # As math, so that an answer such as \frac{29}{3} renders like the steps around it.
        return f"Wait, the answer ${node.final_answer.strip()}$ doesn't look right."
    return "Wait, this doesn't look right."


def backtrack_sentence(tree: Tree, node_id: int) -> str:
    if node_id == ROOT_ID:
        return "Let me go back to the beginning and try a different approach."
    depth = tree.node(node_id).depth
    return f"Let me go back to where I was after step {depth} and try a different approach."


class NoVerdict(ValueError):
    """A walk would reflect on a node nobody called wrong."""


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a draft: a walked step (``kind`` step); the reflection said after the
    wrong node ``node_id`` and the way back (``kind`` reflection); or, after a backtrack the
    model chose itself (proposal-critique), the way back in words, ``node_id`` being the step it
    goes back to (``kind`` backtrack)."""

    kind: Literal["step", "reflection", "backtrack"]
    node_id: int
    text: str


def going_back_sentence(tree: Tree, node_id: int) -> str:
    """A backtrack the model chose, written out: where it goes back to, and what stood there."""
    if node_id == ROOT_ID:
        return "Going back to the beginning."
    node = tree.node(node_id)
    return f"Going back to step {node.depth}: {node.text}"


def draft_paragraphs(
    tree: Tree,
    thought: LongThought,
    *,
    reflection: Callable[[TreeNode], str] | None = None,
) -> list[Paragraph]:
    """The long thought's paragraphs, each with the tree node it comes from. A reflection is
    said only after a node with a recorded wrong verdict (NoVerdict otherwise)."""
    reflect = reflection or default_reflection
    paragraphs: list[Paragraph] = []
    for event in thought.events:
        node = tree.node(event.node_id)
        if event.kind == "step":
            paragraphs.append(Paragraph("step", node.id, node.text))
        elif event.kind == "wrong_leaf":
            if node.wrong is None:
                raise NoVerdict(f"node {node.id} has no wrong verdict to reflect on")
            paragraphs.append(Paragraph("reflection", node.id, reflect(node)))
        elif paragraphs and paragraphs[-1].kind == "reflection":
            # After a wrong node: reflection and way back read as one paragraph.
            last = paragraphs[-1]
            text = f"{last.text} {backtrack_sentence(tree, node.id)}"
            paragraphs[-1] = Paragraph(last.kind, last.node_id, text)
        else:
            paragraphs.append(Paragraph("backtrack", node.id, going_back_sentence(tree, node.id)))
    return paragraphs


def render_draft(
    tree: Tree,
    thought: LongThought,
    *,
    reflection: Callable[[TreeNode], str] | None = None,
) -> str:
    """The long thought as text: one paragraph per step, one per reflection and backtrack."""
    return "\n\n".join(p.text for p in draft_paragraphs(tree, thought, reflection=reflection))
