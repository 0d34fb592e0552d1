"""On-policy reasoning trees built level by level (beam search or LLM-judge pruning).

At every depth the frontier nodes of all problems are expanded in one generator call and all
new candidate steps are scored in one scorer call, so a GPU backend sees two large batches per
level instead of many small ones. Rejected candidates stay in the tree, marked ``pruned``: they
are the dead ends that a long thought later walks into and backtracks from. Candidate steps
under one parent that are the same step (``same_step_key``: equal up to whitespace, sentence
punctuation and TeX spacing) are merged before scoring (``copies`` counts them), so a beam never
spends two places on the same step and a long thought never rejects the same step twice.

Pruned is not wrong: a node the beam dropped by rank says nothing about its step. A node is
*wrong* only by a recorded verdict (``Verdict``, ``record_wrong_verdicts``): its final answer
checked wrong, the judge's "incorrect", or a PRM score under the job's threshold. Only such a
node may end a detour of a long thought with a reflection.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

ROOT_ID = 0

SearchMode = Literal["beam", "judge"]

# What a node says: search trees hold only steps; the loops in which a model steers itself
# (proposal_critique) also write its reflections, backtracks and conclusions.
NodeKind = Literal["step", "reflection", "backtrack", "conclusion"]

# Who called a node wrong: the answer check (a final answer against the ground truth), an LLM
# judge or a PRM under the job's threshold (tree jobs), the critic (policy-critic), or the loop's
# limits (proposal-critique: the attempt ended without an answer).
VerdictSource = Literal["answer", "judge", "prm", "critic", "limit"]
VERDICT_SOURCES: tuple[VerdictSource, ...] = ("answer", "judge", "prm", "critic", "limit")
DEFAULT_WRONG_BELOW = 0.5  # a PRM score under this is a wrong verdict (TreeParams.wrong_below)


@dataclass(frozen=True)
class Verdict:
    """A stored wrong verdict: who gave it and its number (the score, 0.0 for an answer checked
    wrong or a critic's rejection)."""

    source: VerdictSource
    value: float | None = None


@dataclass(frozen=True)
class ProblemSpec:
    key: str
    text: str


@dataclass(frozen=True)
class ExpandRequest:
    """Ask for candidate next steps after ``steps`` (the path so far, root excluded)."""

    problem: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class ScoreRequest:
    """Score ``candidate`` as the step that follows ``steps``."""

    problem: str
    steps: tuple[str, ...]
    candidate: str


@dataclass(frozen=True)
class ScoreResult:
    score: float
    judged_correct: bool | None = None
    reason: str | None = None


@dataclass
class TreeNode:
    id: int
    parent: int | None
    depth: int
    text: str
    score: float | None = None
    judged_correct: bool | None = None
    reason: str | None = None
    pruned: bool = False
    final_answer: str | None = None
    is_correct: bool | None = None
    kind: NodeKind = "step"
    copies: int = 1  # identical candidates merged into this node
    wrong: Verdict | None = None  # the recorded wrong verdict, if any


# TeX spacing commands and non-breaking spaces say nothing about the step.
_TEX_SPACING = re.compile(r"\\(?:[,;:! ]|q?quad\b|enspace\b|thinspace\b)|~")
# Sentence punctuation, except between two word characters (3.5, (1,2), e.g.).
_SENTENCE_PUNCTUATION = re.compile(r"[.,;:!?](?!(?<=\w.)\w)")
# Whitespace next to anything that is not a letter or digit (x = 4, x=4).
_LOOSE_SPACE = re.compile(r"\s*([^\w\s])\s*")


def same_step_key(text: str) -> str:
    """Candidates equal up to whitespace, sentence punctuation and TeX spacing are the same
    step ("x = 4." and "x=4", "$3\\,x$" and "$3x$"); a sign, a decimal point or a comma
    between digits still counts."""
    text = _TEX_SPACING.sub("", text)
    text = _SENTENCE_PUNCTUATION.sub(" ", text)
    text = " ".join(text.split())
    return _LOOSE_SPACE.sub(r"\1", text).strip()


@dataclass
class Tree:
    """The nodes of one problem's tree; a node's id is its index in ``nodes``."""

    problem: ProblemSpec
    nodes: list[TreeNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes.append(TreeNode(id=ROOT_ID, parent=None, depth=0, text=self.problem.text))

    def node(self, node_id: int) -> TreeNode:
        return self.nodes[node_id]

    def add_child(self, parent_id: int, text: str) -> TreeNode:
        parent = self.nodes[parent_id]
        child = TreeNode(id=len(self.nodes), parent=parent_id, depth=parent.depth + 1, text=text)
        self.nodes.append(child)
        return child

    def add_candidate(self, parent_id: int, text: str) -> TreeNode | None:
        """A new child, or None when an identical child exists (its ``copies`` goes up)."""
        key = same_step_key(text)
        for child_id in self.children(parent_id):
            child = self.nodes[child_id]
            if same_step_key(child.text) == key:
                child.copies += 1
                return None
        return self.add_child(parent_id, text)

    def children(self, node_id: int) -> list[int]:
        """Child ids in ascending order (creation order)."""
        return [node.id for node in self.nodes if node.parent == node_id]

    def path(self, node_id: int) -> list[int]:
        """Node ids from the root to ``node_id``, both included."""
        ids: list[int] = []
        current: int | None = node_id
        while current is not None:
            ids.append(current)
            current = self.nodes[current].parent
        return ids[::-1]

    def path_steps(self, node_id: int) -> tuple[str, ...]:
        """Step texts from the root to ``node_id``; the root (the problem) is not a step."""
        return tuple(self.nodes[i].text for i in self.path(node_id)[1:])

    def leaves(self) -> Iterator[TreeNode]:
        parents = {node.parent for node in self.nodes}
        return (node for node in self.nodes if node.id not in parents)


@dataclass
class SearchStats:
    """Backend calls and batch sizes per depth (beam, judge) or per simulation round (MCTS)."""

    expand_calls: list[int] = field(default_factory=list)
    score_calls: list[int] = field(default_factory=list)
    expand_requests: list[int] = field(default_factory=list)
    score_requests: list[int] = field(default_factory=list)


def build_trees(
    problems: Sequence[ProblemSpec],
    *,
    expand: Callable[[list[ExpandRequest]], list[list[str]]],
    score: Callable[[list[ScoreRequest]], list[ScoreResult]],
    width: int,
    keep: int,
    max_depth: int,
    is_final: Callable[[str], str | None],
    mode: SearchMode = "beam",
    stats: SearchStats | None = None,
) -> list[Tree]:
    """Grow one tree per problem, ``width`` candidates per frontier node, ``keep`` per level.

    Beam mode keeps the ``keep`` best-scored new nodes of each problem; judge mode keeps at most
    ``keep`` of those the scorer judged correct, best score first. Kept nodes whose step gives a
    final answer become leaves; the others form the next frontier. Ids are assigned in frontier
    order, then candidate order, so the same backends give the same tree.
    """
    if width < 1 or keep < 1 or max_depth < 0:
        raise ValueError("width and keep must be at least 1 and max_depth at least 0")
    trees = [Tree(problem=problem) for problem in problems]
    frontiers: list[list[int]] = [[ROOT_ID] for _ in trees]
    for _depth in range(max_depth):
        expansions = [
            (tree, node_id) for tree, ids in zip(trees, frontiers, strict=True) for node_id in ids
        ]
        if not expansions:
            break
        candidates = _call_expand(expand, expansions, width, stats)
        first_new_ids = [len(tree.nodes) for tree in trees]
        for (tree, node_id), texts in zip(expansions, candidates, strict=True):
            for text in texts:
                tree.add_candidate(node_id, text)
        new_nodes = [tree.nodes[start:] for tree, start in zip(trees, first_new_ids, strict=True)]
        level = [
            (tree, node) for tree, nodes in zip(trees, new_nodes, strict=True) for node in nodes
        ]
        _call_score(score, level, stats)
        for _tree, node in level:
            node.final_answer = is_final(node.text)
        frontiers = [_select(nodes, keep, mode) for nodes in new_nodes]
    return trees


def _call_expand(
    expand: Callable[[list[ExpandRequest]], list[list[str]]],
    expansions: list[tuple[Tree, int]],
    width: int,
    stats: SearchStats | None,
) -> list[list[str]]:
    requests = [
        ExpandRequest(problem=tree.problem.text, steps=tree.path_steps(node_id))
        for tree, node_id in expansions
    ]
    candidates = expand(requests)
    if stats is not None:
        stats.expand_calls.append(1)
        stats.expand_requests.append(len(requests))
    if len(candidates) != len(requests) or any(len(texts) != width for texts in candidates):
        raise ValueError(f"expand must return {width} candidates for each of {len(requests)} nodes")
    return candidates


def _call_score(
    score: Callable[[list[ScoreRequest]], list[ScoreResult]],
    level: list[tuple[Tree, TreeNode]],
    stats: SearchStats | None,
) -> None:
    requests = [
        ScoreRequest(
            problem=tree.problem.text,
            steps=tree.path_steps(node.parent if node.parent is not None else ROOT_ID),
            candidate=node.text,
        )
        for tree, node in level
    ]
    results = score(requests)
    if stats is not None:
        stats.score_calls.append(1)
        stats.score_requests.append(len(requests))
    if len(results) != len(requests):
        raise ValueError(f"score must return one result for each of {len(requests)} candidates")
    for (_tree, node), result in zip(level, results, strict=True):
        node.score = result.score
        node.judged_correct = result.judged_correct
        node.reason = result.reason


def _select(new_nodes: list[TreeNode], keep: int, mode: SearchMode) -> list[int]:
    """Mark the rejected new nodes as pruned; return the kept ones that still need expanding."""
    eligible = new_nodes if mode == "beam" else [n for n in new_nodes if n.judged_correct is True]
    ranked = sorted(eligible, key=_rank_key)
    kept = {node.id for node in ranked[:keep]}
    for node in new_nodes:
        node.pruned = node.id not in kept
    return sorted(node.id for node in new_nodes if node.id in kept and node.final_answer is None)


def _rank_key(node: TreeNode) -> tuple[float, int]:
    """Best score first; equal scores in id order so the selection is reproducible."""
    return (-(node.score if node.score is not None else float("-inf")), node.id)


@dataclass
class _Visits:
    """MCTS statistics of one tree, keyed by node id."""

    count: dict[int, int] = field(default_factory=dict)
    value_sum: dict[int, float] = field(default_factory=dict)
    prior: dict[int, float] = field(default_factory=dict)

    def puct(self, parent_id: int, child_id: int, c_puct: float) -> float:
        visits = self.count.get(child_id, 0)
        mean_value = self.value_sum.get(child_id, 0.0) / visits if visits else 0.0
        exploration = math.sqrt(self.count.get(parent_id, 0)) / (1 + visits)
        return mean_value + c_puct * self.prior[child_id] * exploration

    def back_up(self, tree: Tree, node_id: int, value: float) -> None:
        for ancestor in tree.path(node_id):
            self.count[ancestor] = self.count.get(ancestor, 0) + 1
            self.value_sum[ancestor] = self.value_sum.get(ancestor, 0.0) + value


def mcts(
    problems: Sequence[ProblemSpec],
    *,
    expand: Callable[[list[ExpandRequest]], list[list[str]]],
    score: Callable[[list[ScoreRequest]], list[ScoreResult]],
    width: int,
    simulations: int,
    max_depth: int,
    is_final: Callable[[str], str | None],
    c_puct: float = 1.0,
    stats: SearchStats | None = None,
) -> list[Tree]:
    """Monte-Carlo tree search with the PUCT rule, one simulation per problem per round.

    Each round selects one leaf per problem (highest ``Q + c_puct * P * sqrt(N_parent) /
    (1 + N)``, ties to the lower id), expands all selected leaves in one generator call and
    scores all new steps in one scorer call. The scorer supplies both the children's priors
    (a softmax over their scores) and the value backed up from the expanded leaf (its best
    child's score). A final-answer or ``max_depth`` leaf is not expanded; its own score is
    backed up instead. Nothing is pruned: unexplored nodes are the tree's open ends.
    """
    if width < 1 or simulations < 0 or max_depth < 0:
        raise ValueError("width must be at least 1, simulations and max_depth at least 0")
    trees = [Tree(problem=problem) for problem in problems]
    visits = [_Visits() for _ in trees]
    for _round in range(simulations):
        expansions: list[tuple[Tree, int]] = []
        expanded_visits: list[_Visits] = []
        for tree, tree_visits in zip(trees, visits, strict=True):
            leaf = _select_leaf(tree, tree_visits, c_puct)
            if leaf.final_answer is not None or leaf.depth >= max_depth:
                tree_visits.back_up(tree, leaf.id, leaf.score or 0.0)
            else:
                expansions.append((tree, leaf.id))
                expanded_visits.append(tree_visits)
        if not expansions:
            if stats is not None:
                stats.expand_calls.append(0)
                stats.score_calls.append(0)
            continue
        candidates = _call_expand(expand, expansions, width, stats)
        children = [
            [node for text in texts if (node := tree.add_candidate(leaf_id, text)) is not None]
            for (tree, leaf_id), texts in zip(expansions, candidates, strict=True)
        ]
        level = [
            (tree, child)
            for (tree, _), new in zip(expansions, children, strict=True)
            for child in new
        ]
        _call_score(score, level, stats)
        for (tree, leaf_id), new, tree_visits in zip(
            expansions, children, expanded_visits, strict=True
        ):
            for child in new:
                child.final_answer = is_final(child.text)
            tree_visits.prior.update(_softmax_priors(new))
            tree_visits.back_up(tree, leaf_id, max(child.score or 0.0 for child in new))
    return trees


def _select_leaf(tree: Tree, visits: _Visits, c_puct: float) -> TreeNode:
    node_id = ROOT_ID
    while children := tree.children(node_id):
        parent_id = node_id
        node_id = max(children, key=lambda child: (visits.puct(parent_id, child, c_puct), -child))
    return tree.node(node_id)


def _softmax_priors(children: list[TreeNode]) -> dict[int, float]:
    scores = [child.score or 0.0 for child in children]
    top = max(scores)
    weights = [math.exp(value - top) for value in scores]
    total = sum(weights)
    return {child.id: weight / total for child, weight in zip(children, weights, strict=True)}


def grade_leaves(tree: Tree, check: Callable[[str], bool | None]) -> None:
    """Set ``is_correct`` on every node that gives a final answer (those are always leaves)."""
    for node in tree.nodes:
        if node.final_answer is not None:
            node.is_correct = check(node.final_answer)


def wrong_verdict(node: TreeNode, *, wrong_below: float | None) -> Verdict | None:
    """The evidence that ``node`` is wrong, strongest first: its answer checked wrong, the
    judge's "incorrect", a PRM score under ``wrong_below`` (None: the scorer is a judge, whose
    score is no PRM's). An answer checked correct overrules the scorer; being pruned is no
    evidence."""
    if node.is_correct is not None:
        return Verdict("answer", 0.0) if node.is_correct is False else None
    if node.judged_correct is False:
        return Verdict("judge", node.score)
    if wrong_below is not None and node.score is not None and node.score < wrong_below:
        return Verdict("prm", node.score)
    return None


def record_wrong_verdicts(tree: Tree, *, wrong_below: float | None) -> None:
    """Set ``wrong`` on every step of a graded tree (after ``grade_leaves``)."""
    for node in tree.nodes[1:]:
        node.wrong = wrong_verdict(node, wrong_below=wrong_below)
