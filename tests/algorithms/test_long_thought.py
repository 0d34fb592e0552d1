import pytest

from algorithms.long_thought import (
    LongThought,
    ThoughtEvent,
    correct_paths,
    derive_long_thought,
    render_draft,
    shortcut,
)
from algorithms.tree_search import (
    ExpandRequest,
    ProblemSpec,
    ScoreRequest,
    ScoreResult,
    Tree,
    build_trees,
    grade_leaves,
)

# Parent of each node 1..16 of the tree below; the correct path is 0 -> 1 -> 5 -> 8.
#
#   0 ── 1 ── 5 ── 8 (correct)        2 ── 12 ── 14
#   │    │    └─── 9 (wrong)          │    └──── 15
#   │    ├─── 6 ── 10, 11             └─── 13
#   │    └─── 7
#   ├── 2 ...  3 (wrong answer)   4 ── 16
PARENTS = [0, 0, 0, 0, 1, 1, 1, 5, 5, 6, 6, 2, 2, 12, 12, 4]
OFF_PATH_CHILDREN = {0: 3, 1: 2, 5: 1}


def make_tree(correct_leaves: tuple[int, ...] = (8,)) -> Tree:
    tree = Tree(problem=ProblemSpec(key="p", text="P"))
    for parent in PARENTS:
        tree.add_child(parent, f"step {len(tree.nodes)}")
    for node_id, answer in {8: "5", 9: "6", 3: "7", 14: "5"}.items():
        tree.node(node_id).final_answer = answer
        tree.node(node_id).is_correct = node_id in correct_leaves
    return tree


def compact(thought: LongThought) -> list[tuple[str, int]]:
    return [(event.kind, event.node_id) for event in thought.events]


def test_correct_paths_are_in_leaf_id_order_and_the_shortcut_is_the_first():
    # given
    tree = make_tree(correct_leaves=(14, 8))

    # when / then
    assert correct_paths(tree) == [[0, 1, 5, 8], [0, 2, 12, 14]]
    assert shortcut(tree) == [0, 1, 5, 8]


def test_walk_order_for_seed_0():
    # when
    thought = derive_long_thought(make_tree(), trials=2, seed=0)

    # then
    assert thought is not None
    assert thought.path == (0, 1, 5, 8)
    assert thought.walked == [3, 4, 16, 1, 7, 6, 11, 5, 9, 8]
    assert compact(thought) == [
        ("step", 3), ("wrong_leaf", 3), ("backtrack", 0),
        ("step", 4), ("step", 16), ("wrong_leaf", 16), ("backtrack", 0),
        ("step", 1),
        ("step", 7), ("wrong_leaf", 7), ("backtrack", 1),
        ("step", 6), ("step", 11), ("wrong_leaf", 11), ("backtrack", 1),
        ("step", 5),
        ("step", 9), ("wrong_leaf", 9), ("backtrack", 5),
        ("step", 8),
    ]  # fmt: skip


def test_walk_order_for_seed_2_differs():
    # when
    thought = derive_long_thought(make_tree(), trials=2, seed=2)

    # then
    assert thought is not None
    assert thought.walked == [2, 12, 15, 4, 16, 1, 7, 6, 10, 5, 9, 8]
    assert compact(thought)[:5] == [
        ("step", 2),
        ("step", 12),
        ("step", 15),
        ("wrong_leaf", 15),
        ("backtrack", 0),
    ]


def test_same_tree_and_seed_give_the_same_long_thought():
    first = derive_long_thought(make_tree(), trials=3, seed=11)
    second = derive_long_thought(make_tree(), trials=3, seed=11)

    assert first is not None
    assert first == second


@pytest.mark.parametrize("trials", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(10))
def test_never_more_than_k_trials_per_correct_path_node(trials, seed):
    # when
    thought = derive_long_thought(make_tree(), trials=trials, seed=seed)

    # then: every off-path branch is tried when there are fewer than K of them
    assert thought is not None
    backtracks = [event.node_id for event in thought.events if event.kind == "backtrack"]
    assert {node: backtracks.count(node) for node in OFF_PATH_CHILDREN} == {
        node: min(trials, count) for node, count in OFF_PATH_CHILDREN.items()
    }
    assert [node for node in thought.walked if node in thought.path] == [1, 5, 8]


def test_zero_trials_walk_only_the_correct_path():
    thought = derive_long_thought(make_tree(), trials=0, seed=5)

    assert thought is not None
    assert thought.walked == [1, 5, 8]
    assert all(event.kind == "step" for event in thought.events)


@pytest.mark.parametrize("seed", range(20))
def test_each_trial_is_a_single_chain_ending_on_a_leaf(seed):
    # given
    tree = make_tree()

    # when
    thought = derive_long_thought(tree, trials=3, seed=seed)

    # then: split the events into trials; each step's parent is the previous node
    assert thought is not None
    position = 0  # the correct-path node the walk stands on
    previous = position
    for event in thought.events:
        if event.kind == "step":
            assert tree.node(event.node_id).parent == previous
            previous = event.node_id
            if event.node_id in thought.path:
                position = event.node_id
        elif event.kind == "wrong_leaf":
            assert event.node_id == previous
            assert tree.children(event.node_id) == []
            assert event.node_id not in thought.path
        else:
            assert event.node_id == position
            previous = position


def test_no_long_thought_without_a_correct_leaf():
    tree = make_tree(correct_leaves=())

    assert correct_paths(tree) == []
    assert shortcut(tree) is None
    assert derive_long_thought(tree, trials=2, seed=0) is None


def test_negative_trials_are_rejected():
    with pytest.raises(ValueError, match="trials must be at least 0"):
        derive_long_thought(make_tree(), trials=-1, seed=0)


def small_tree() -> Tree:
    tree = Tree(problem=ProblemSpec(key="eq", text="Solve 3x = 6."))
    tree.add_child(0, "Try x = 2.")  # 1, on the path
    wrong = tree.add_child(0, "Try x = 3.")  # 2
    wrong.reason = "3 * 3 is 9, not 6."
    right = tree.add_child(1, "3 * 2 = 6, so the answer is 2.")  # 3
    right.final_answer, right.is_correct = "2", True
    guess = tree.add_child(1, "So the answer is 4.")  # 4
    guess.final_answer, guess.is_correct = "4", False
    return tree


def test_render_draft_inserts_reflection_and_backtrack_at_each_wrong_leaf():
    # given
    tree = small_tree()
    thought = derive_long_thought(tree, trials=1, seed=0)
    assert thought is not None

    # when
    draft = render_draft(tree, thought)

    # then
    assert draft == (
        "Try x = 3.\n\n"
        "Wait, this doesn't look right: 3 * 3 is 9, not 6. "
        "Let me go back to the beginning and try a different approach.\n\n"
        "Try x = 2.\n\n"
        "So the answer is 4.\n\n"
        "Wait, the answer $4$ doesn't look right. "
        "Let me go back to where I was after step 1 and try a different approach.\n\n"
        "3 * 2 = 6, so the answer is 2."
    )


def test_render_draft_uses_the_given_reflection():
    # given
    tree = small_tree()
    thought = LongThought(
        path=(0, 1, 3),
        events=(
            ThoughtEvent("step", 2),
            ThoughtEvent("wrong_leaf", 2),
            ThoughtEvent("backtrack", 0),
            ThoughtEvent("step", 1),
            ThoughtEvent("step", 3),
        ),
    )

    # when
    draft = render_draft(tree, thought, reflection=lambda node: f"Hmm, '{node.text}' fails.")

    # then
    assert draft == (
        "Try x = 3.\n\n"
        "Hmm, 'Try x = 3.' fails. Let me go back to the beginning and try a different approach.\n\n"
        "Try x = 2.\n\n"
        "3 * 2 = 6, so the answer is 2."
    )


def test_long_thought_from_a_searched_and_graded_tree():
    # given: a beam of 1 over 2 candidates; "1.2" answers 3 (right), "1.1" answers 4 (wrong)
    scores = {"1": 0.9, "2": 0.1, "1.1": 0.3, "1.2": 0.7}

    def expand(requests: list[ExpandRequest]) -> list[list[str]]:
        return [[f"{r.steps[-1]}.{j}" if r.steps else str(j) for j in (1, 2)] for r in requests]

    def score(requests: list[ScoreRequest]) -> list[ScoreResult]:
        return [ScoreResult(scores[r.candidate]) for r in requests]

    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=expand,
        score=score,
        width=2,
        keep=1,
        max_depth=3,
        is_final={"1.1": "4", "1.2": "3"}.get,
    )
    grade_leaves(tree, lambda answer: answer == "3")

    # when
    thought = derive_long_thought(tree, trials=1, seed=0)

    # then: the pruned dead ends "2" and "1.1" are the detours
    assert thought is not None
    assert thought.path == (0, 1, 4)
    assert thought.walked == [2, 1, 3, 4]
    assert render_draft(tree, thought) == (
        "2\n\n"
        "Wait, this doesn't look right. "
        "Let me go back to the beginning and try a different approach.\n\n"
        "1\n\n"
        "1.1\n\n"
        "Wait, the answer $4$ doesn't look right. "
        "Let me go back to where I was after step 1 and try a different approach.\n\n"
        "1.2"
    )
