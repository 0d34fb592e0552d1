from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from algorithms.tree_search import (
    ExpandRequest,
    ProblemSpec,
    ScoreRequest,
    ScoreResult,
    SearchStats,
    Tree,
    build_trees,
    grade_leaves,
    mcts,
)


@dataclass
class ScriptedPolicy:
    """Candidates are named by their path ("2", "2.1", ...); scores and verdicts come from tables.

    Every call is recorded so the tests can check batching and the requests' contents.
    """

    width: int
    scores: dict[tuple[str, str], float] = field(default_factory=dict)
    verdicts: dict[tuple[str, str], tuple[bool, str]] = field(default_factory=dict)
    expand_batches: list[list[ExpandRequest]] = field(default_factory=list)
    score_batches: list[list[ScoreRequest]] = field(default_factory=list)

    def expand(self, requests: list[ExpandRequest]) -> list[list[str]]:
        self.expand_batches.append(requests)
        return [
            [f"{r.steps[-1]}.{j}" if r.steps else str(j) for j in range(1, self.width + 1)]
            for r in requests
        ]

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        self.score_batches.append(requests)
        results = []
        for r in requests:
            key = (r.problem, r.candidate)
            correct, reason = self.verdicts.get(key, (None, None))
            results.append(ScoreResult(self.scores.get(key, 0.0), correct, reason))
        return results


def final_answers(table: dict[str, str]) -> Callable[[str], str | None]:
    return lambda text: table.get(text)


def kept_ids(tree: Tree, depth: int) -> set[int]:
    return {n.id for n in tree.nodes if n.depth == depth and not n.pruned}


def pruned_ids(tree: Tree) -> set[int]:
    return {n.id for n in tree.nodes if n.pruned}


def test_beam_keeps_the_best_nodes_per_depth_and_keeps_dead_ends():
    # given
    policy = ScriptedPolicy(
        width=3,
        scores={
            ("P", "1"): 0.2,
            ("P", "2"): 0.9,
            ("P", "3"): 0.5,
            ("P", "2.1"): 0.1,
            ("P", "2.2"): 0.4,
            ("P", "2.3"): 0.4,
            ("P", "3.1"): 0.8,
        },
    )
    stats = SearchStats()

    # when
    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=3,
        keep=2,
        max_depth=3,
        is_final=final_answers({}),
        stats=stats,
    )

    # then
    assert [n.text for n in tree.nodes] == [
        "P",
        "1", "2", "3",
        "2.1", "2.2", "2.3", "3.1", "3.2", "3.3",
        "2.2.1", "2.2.2", "2.2.3", "3.1.1", "3.1.2", "3.1.3",
    ]  # fmt: skip
    assert kept_ids(tree, 1) == {2, 3}
    assert kept_ids(tree, 2) == {5, 7}  # 2.2 beats 2.3 on the 0.4 tie by id
    assert kept_ids(tree, 3) == {10, 11}  # all 0.0: the lowest ids
    assert pruned_ids(tree) == {1, 4, 6, 8, 9, 12, 13, 14, 15}
    assert [(n.parent, n.depth) for n in tree.nodes[10:16]] == [(5, 3)] * 3 + [(7, 3)] * 3
    assert tree.node(7).score == 0.8
    assert tree.children(2) == [4, 5, 6]
    assert tree.children(1) == []
    assert stats.expand_calls == [1, 1, 1]
    assert stats.score_calls == [1, 1, 1]
    assert stats.expand_requests == [1, 2, 2]
    assert stats.score_requests == [3, 6, 6]


def test_requests_carry_the_problem_and_the_path_so_far():
    # given
    policy = ScriptedPolicy(width=2, scores={("P", "2"): 1.0})

    # when
    build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=2,
        keep=1,
        max_depth=2,
        is_final=final_answers({}),
    )

    # then
    assert policy.expand_batches == [
        [ExpandRequest(problem="P", steps=())],
        [ExpandRequest(problem="P", steps=("2",))],
    ]
    assert policy.score_batches[1] == [
        ScoreRequest(problem="P", steps=("2",), candidate="2.1"),
        ScoreRequest(problem="P", steps=("2",), candidate="2.2"),
    ]


def test_all_problems_share_one_expand_and_one_score_call_per_depth():
    # given: problem B finds its answer at depth 1, problem A keeps going
    policy = ScriptedPolicy(
        width=2,
        scores={("A", "1"): 0.3, ("A", "2"): 0.7, ("B", "1"): 0.9, ("B", "2"): 0.1},
    )
    problems = [ProblemSpec(key="a", text="A"), ProblemSpec(key="b", text="B")]
    stats = SearchStats()

    # when
    tree_a, tree_b = build_trees(
        problems,
        expand=policy.expand,
        score=policy.score,
        width=2,
        keep=1,
        max_depth=3,
        is_final=lambda text: "42" if text in {"1", "2.2.1"} else None,
        stats=stats,
    )

    # then
    assert [len(batch) for batch in policy.expand_batches] == [2, 1, 1]
    assert [len(batch) for batch in policy.score_batches] == [4, 2, 2]
    assert [r.problem for r in policy.score_batches[0]] == ["A", "A", "B", "B"]
    assert stats.expand_calls == [1, 1, 1]
    assert stats.score_calls == [1, 1, 1]
    assert tree_b.node(1).final_answer == "42"
    assert not tree_b.node(1).pruned
    assert tree_b.node(2).pruned
    assert len(tree_b.nodes) == 3
    # A's "1" is a final step but was pruned; A goes on through "2" -> "2.1" (tie, lower id)
    assert tree_a.node(1).final_answer == "42"
    assert tree_a.node(1).pruned
    assert kept_ids(tree_a, 2) == {3}
    assert kept_ids(tree_a, 3) == {5}
    assert [n.text for n in tree_a.nodes] == ["A", "1", "2", "2.1", "2.2", "2.1.1", "2.1.2"]


def test_search_stops_when_every_kept_node_is_a_final_answer():
    # given
    policy = ScriptedPolicy(width=3, scores={("P", "1"): 0.5, ("P", "3"): 0.6})
    stats = SearchStats()

    # when
    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=3,
        keep=2,
        max_depth=5,
        is_final=final_answers({"1": "7", "3": "8"}),
        stats=stats,
    )

    # then
    assert len(policy.expand_batches) == 1
    assert stats.expand_calls == [1]
    assert stats.score_calls == [1]
    assert [(n.id, n.final_answer, n.pruned) for n in tree.leaves()] == [
        (1, "7", False),
        (2, None, True),
        (3, "8", False),
    ]


def test_max_depth_bounds_the_tree():
    # given
    policy = ScriptedPolicy(width=2)

    # when
    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=2,
        keep=2,
        max_depth=2,
        is_final=final_answers({}),
    )

    # then: 1 + 2 + 4 nodes, nothing pruned because keep equals the number of new nodes at depth 1
    assert len(tree.nodes) == 7
    assert max(n.depth for n in tree.nodes) == 2
    assert kept_ids(tree, 2) == {3, 4}
    assert pruned_ids(tree) == {5, 6}
    assert len(policy.expand_batches) == 2


def test_zero_depth_builds_only_the_root():
    policy = ScriptedPolicy(width=2)

    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=2,
        keep=1,
        max_depth=0,
        is_final=final_answers({}),
    )

    assert [(n.id, n.parent, n.depth, n.text) for n in tree.nodes] == [(0, None, 0, "P")]
    assert policy.expand_batches == []


def test_judge_mode_keeps_only_nodes_judged_correct_in_score_order():
    # given
    policy = ScriptedPolicy(
        width=4,
        scores={("P", "1"): 0.9, ("P", "2"): 0.2, ("P", "3"): 0.6, ("P", "4"): 0.4},
        verdicts={
            ("P", "1"): (False, "sign error"),
            ("P", "2"): (True, "fine"),
            ("P", "3"): (True, "fine"),
            ("P", "4"): (True, "fine"),
        },
    )

    # when
    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=4,
        keep=2,
        max_depth=1,
        is_final=final_answers({}),
        mode="judge",
    )

    # then: "1" has the best score but was judged wrong
    assert kept_ids(tree, 1) == {3, 4}
    assert tree.node(1).pruned
    assert tree.node(1).judged_correct is False
    assert tree.node(1).reason == "sign error"


def test_judge_mode_stops_when_nothing_is_judged_correct():
    # given
    policy = ScriptedPolicy(
        width=2, verdicts={("P", "1"): (False, "no"), ("P", "2"): (False, "no")}
    )
    stats = SearchStats()

    # when
    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=2,
        keep=2,
        max_depth=4,
        is_final=final_answers({}),
        mode="judge",
        stats=stats,
    )

    # then
    assert pruned_ids(tree) == {1, 2}
    assert stats.expand_calls == [1]


def test_expand_returning_the_wrong_width_is_rejected():
    policy = ScriptedPolicy(width=2)

    with pytest.raises(ValueError, match="expand must return 3 candidates for each of 1 nodes"):
        build_trees(
            [ProblemSpec(key="p", text="P")],
            expand=policy.expand,
            score=policy.score,
            width=3,
            keep=1,
            max_depth=1,
            is_final=final_answers({}),
        )


def test_grade_leaves_checks_only_final_answers():
    # given
    policy = ScriptedPolicy(width=3, scores={("P", "1"): 1.0, ("P", "2"): 0.5})
    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=3,
        keep=2,
        max_depth=1,
        is_final=final_answers({"1": "4", "2": "5"}),
    )

    # when
    grade_leaves(tree, lambda answer: answer == "4")

    # then
    assert [n.is_correct for n in tree.nodes] == [None, True, False, None]


def test_mcts_follows_the_puct_rule():
    # given: priors are a softmax over the scores; the value backed up is the best child's score
    policy = ScriptedPolicy(
        width=2,
        scores={("P", "1"): 0.2, ("P", "2"): 0.8, ("P", "2.1"): 0.9, ("P", "2.2"): 0.1},
    )
    stats = SearchStats()

    # when
    [tree] = mcts(
        [ProblemSpec(key="p", text="P")],
        expand=policy.expand,
        score=policy.score,
        width=2,
        simulations=5,
        max_depth=3,
        is_final=final_answers({}),
        stats=stats,
    )

    # then: round 1 expands the root, 2 the better prior "2", 3 its child "2.1" (Q 0.9 wins),
    # 4 reaches "2.1.1" at max_depth and only backs up, 5 turns to the unvisited "1"
    # (0.354 * sqrt(4) = 0.709 beats 0.3 + 0.646 * 2 / 4 = 0.623)
    assert [(n.text, n.parent) for n in tree.nodes] == [
        ("P", None),
        ("1", 0), ("2", 0),
        ("2.1", 2), ("2.2", 2),
        ("2.1.1", 3), ("2.1.2", 3),
        ("1.1", 1), ("1.2", 1),
    ]  # fmt: skip
    assert stats.expand_calls == [1, 1, 1, 0, 1]
    assert stats.score_calls == [1, 1, 1, 0, 1]
    assert not any(n.pruned for n in tree.nodes)


def test_mcts_batches_all_problems_and_never_expands_a_final_answer():
    # given: step "2" is a final answer; in B it has the best score, in A a tie goes to "1"
    policy = ScriptedPolicy(width=2, scores={("B", "1"): 0.1, ("B", "2"): 0.9})

    # when
    tree_a, tree_b = mcts(
        [ProblemSpec(key="a", text="A"), ProblemSpec(key="b", text="B")],
        expand=policy.expand,
        score=policy.score,
        width=2,
        simulations=2,
        max_depth=5,
        is_final=final_answers({"2": "9"}),
    )

    # then
    assert [[r.problem for r in batch] for batch in policy.expand_batches] == [["A", "B"], ["A"]]
    assert [n.text for n in tree_a.nodes] == ["A", "1", "2", "1.1", "1.2"]
    assert [n.text for n in tree_b.nodes] == ["B", "1", "2"]
