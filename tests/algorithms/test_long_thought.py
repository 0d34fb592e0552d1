from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.long_thought import (
    K_MEANINGS,
    LongThought,
    ThoughtEvent,
    correct_path_nodes,
    correct_paths,
    derive_long_thought,
    derive_long_thoughts,
    draft_paragraphs,
    is_dead_end,
    render_draft,
    shortcut,
    wrong_detours_allowed,
)
from algorithms.tree_search import (
    ExpandRequest,
    ProblemSpec,
    ScoreRequest,
    ScoreResult,
    Tree,
    Verdict,
    build_trees,
    grade_leaves,
    record_wrong_verdicts,
    same_step_key,
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
    for node_id in (7, 10, 11, 13, 15, 16):  # the PRM scored these unanswered leaves low
        tree.node(node_id).score = 0.1
    record_wrong_verdicts(tree, wrong_below=0.5)
    return tree


def compact(thought: LongThought) -> list[tuple[str, int]]:
    return [(event.kind, event.node_id) for event in thought.events]


def first_thought(tree: Tree, **options) -> LongThought:
    path = shortcut(tree)
    assert path is not None
    return derive_long_thought(tree, path, **options)


def test_correct_paths_are_in_leaf_id_order_and_the_shortcut_is_the_first():
    # given
    tree = make_tree(correct_leaves=(14, 8))

    # when / then
    assert correct_paths(tree) == [[0, 1, 5, 8], [0, 2, 12, 14]]
    assert shortcut(tree) == [0, 1, 5, 8]
    assert correct_path_nodes(tree) == {0, 1, 5, 8, 2, 12, 14}


def test_walk_order_for_seed_0_with_k_3():
    # when: K=3 trials per node, the correct move included: up to 2 wrong detours
    thought = first_thought(make_tree(), k=3, seed=0)

    # then
    assert thought.path == (0, 1, 5, 8)
    assert thought.walked == [2, 12, 15, 3, 1, 6, 11, 7, 5, 9, 8]
    assert compact(thought) == [
        ("step", 2), ("step", 12), ("step", 15), ("wrong_leaf", 15), ("backtrack", 0),
        ("step", 3), ("wrong_leaf", 3), ("backtrack", 0),
        ("step", 1),
        ("step", 6), ("step", 11), ("wrong_leaf", 11), ("backtrack", 1),
        ("step", 7), ("wrong_leaf", 7), ("backtrack", 1),
        ("step", 5),
        ("step", 9), ("wrong_leaf", 9), ("backtrack", 5),
        ("step", 8),
    ]  # fmt: skip


def test_walk_order_for_seed_2_differs():
    # when
    thought = first_thought(make_tree(), k=3, seed=2)

    # then
    assert thought.walked == [3, 4, 16, 1, 6, 11, 7, 5, 9, 8]


def test_two_correct_leaves_give_two_long_thoughts_that_never_reject_a_correct_answer():
    # given: 14 is also correct, so 2 and 12 are on a correct path and no detour may enter them
    tree = make_tree(correct_leaves=(8, 14))

    # when
    thoughts = derive_long_thoughts(tree, k=3, seed=0)

    # then
    assert [t.path for t in thoughts] == [(0, 1, 5, 8), (0, 2, 12, 14)]
    assert compact(thoughts[0]) == [
        ("step", 3), ("wrong_leaf", 3), ("backtrack", 0),
        ("step", 4), ("step", 16), ("wrong_leaf", 16), ("backtrack", 0),
        ("step", 1),
        ("step", 7), ("wrong_leaf", 7), ("backtrack", 1),
        ("step", 6), ("step", 11), ("wrong_leaf", 11), ("backtrack", 1),
        ("step", 5),
        ("step", 9), ("wrong_leaf", 9), ("backtrack", 5),
        ("step", 8),
    ]  # fmt: skip
    assert compact(thoughts[1]) == [
        ("step", 3), ("wrong_leaf", 3), ("backtrack", 0),
        ("step", 4), ("step", 16), ("wrong_leaf", 16), ("backtrack", 0),
        ("step", 2),
        ("step", 13), ("wrong_leaf", 13), ("backtrack", 2),
        ("step", 12),
        ("step", 15), ("wrong_leaf", 15), ("backtrack", 12),
        ("step", 14),
    ]  # fmt: skip
    assert derive_long_thoughts(tree, k=3, seed=0, limit=1) == thoughts[:1]


def test_same_tree_and_seed_give_the_same_long_thought():
    first = first_thought(make_tree(), k=3, seed=11)
    second = first_thought(make_tree(), k=3, seed=11)

    assert first == second


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(10))
def test_k_counts_the_trials_at_each_correct_path_node_the_correct_move_included(k, seed):
    # when
    thought = first_thought(make_tree(), k=k, seed=seed)

    # then: K-1 wrong detours, or every one there is when there are fewer
    assert {node: thought.detours_at(node) for node in OFF_PATH_CHILDREN} == {
        node: min(k - 1, count) for node, count in OFF_PATH_CHILDREN.items()
    }
    assert [node for node in thought.walked if node in thought.path] == [1, 5, 8]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_k_as_wrong_detours_is_available_by_name(k):
    thought = first_thought(make_tree(), k=k, seed=3, k_meaning="wrong_detours")

    assert {node: thought.detours_at(node) for node in OFF_PATH_CHILDREN} == {
        node: min(k, count) for node, count in OFF_PATH_CHILDREN.items()
    }


def test_k_1_walks_only_the_correct_path():
    thought = first_thought(make_tree(), k=1, seed=5)

    assert thought.walked == [1, 5, 8]
    assert all(event.kind == "step" for event in thought.events)


def test_no_long_thought_without_a_correct_leaf():
    tree = make_tree(correct_leaves=())

    assert correct_paths(tree) == []
    assert shortcut(tree) is None
    assert derive_long_thoughts(tree, k=2, seed=0) == []


@pytest.mark.parametrize(
    ("k", "meaning", "message"),
    [(0, "trials", "at least 1"), (-1, "wrong_detours", "at least 0"), (2, "both", "unknown")],
)
def test_impossible_k_is_rejected(k, meaning, message):
    with pytest.raises(ValueError, match=message):
        wrong_detours_allowed(k, meaning)


def test_judge_mode_detours_stop_at_steps_judged_incorrect_never_at_pruned_accepted_ones():
    # given: a judge accepted 2 ("follows correctly") but K pruned it; it judged 3 incorrect
    tree = Tree(problem=ProblemSpec(key="eq", text="Solve x + 1 = 3."))
    tree.add_child(0, "x = 3 - 1.")  # 1
    accepted = tree.add_child(0, "Subtract 1 from both sides.")  # 2
    accepted.judged_correct, accepted.pruned, accepted.reason = True, True, "follows correctly"
    rejected = tree.add_child(0, "x = 3 + 1.")  # 3
    rejected.judged_correct, rejected.reason = False, "the sign is wrong"
    tree.add_child(3, "So x = 4.")  # 4: below a step judged incorrect; never reached
    answer = tree.add_child(1, "So x = 2.")  # 5
    answer.final_answer, answer.is_correct = "2", True
    record_wrong_verdicts(tree, wrong_below=None)

    # when
    thought = first_thought(tree, k=3, seed=0)

    # then
    assert compact(thought) == [
        ("step", 3),
        ("wrong_leaf", 3),
        ("backtrack", 0),
        ("step", 1),
        ("step", 5),
    ]
    assert render_draft(tree, thought).startswith(
        "x = 3 + 1.\n\nWait, this doesn't look right: the sign is wrong. Let me go back"
    )


# Property tests over random trees ------------------------------------------------------------


@st.composite
def random_trees(draw: st.DrawFn) -> Tree:
    """Trees with several correct leaves, duplicate texts, judged and pruned nodes."""
    size = draw(st.integers(min_value=1, max_value=40))
    tree = Tree(problem=ProblemSpec(key="p", text="P"))
    for node_id in range(1, size + 1):
        parent = draw(st.integers(min_value=0, max_value=node_id - 1))
        node = tree.add_child(parent, draw(st.sampled_from(["a", "b", "Let x = 2.", "c"])))
        node.judged_correct = draw(st.sampled_from([None, True, False]))
        node.reason = draw(st.sampled_from([None, "it follows", "it does not follow"]))
        node.pruned = draw(st.booleans())
        node.score = draw(st.sampled_from([None, 0.05, 0.4, 0.6, 0.95]))
    for leaf in list(tree.leaves()):
        if leaf.id != 0 and draw(st.booleans()):
            leaf.final_answer = draw(st.sampled_from(["1", "2"]))
            leaf.is_correct = draw(st.sampled_from([True, True, False, None]))
    record_wrong_verdicts(tree, wrong_below=draw(st.sampled_from([None, 0.3, 0.5])))
    return tree


def check_walk(tree: Tree, thought: LongThought) -> None:
    """Steps go parent to child; a dead end ends each detour; backtracks return to the path."""
    on_correct_path = correct_path_nodes(tree)
    standing = 0  # the node of the correct path the walk stands on
    previous = 0
    for event in thought.events:
        if event.kind == "step":
            assert tree.node(event.node_id).parent == previous
            previous = event.node_id
            if event.node_id in thought.path:
                assert event.node_id == thought.path[thought.path.index(standing) + 1]
                standing = event.node_id
            else:
                assert event.node_id not in on_correct_path
        elif event.kind == "wrong_leaf":
            node = tree.node(event.node_id)
            assert event.node_id == previous
            assert event.node_id not in on_correct_path
            assert node.is_correct is not True
            assert is_dead_end(node) and node.wrong is not None
        else:
            assert event.node_id == standing
            previous = standing
    assert standing == thought.path[-1]


@settings(max_examples=1000, deadline=None)
@given(
    tree=random_trees(),
    k=st.integers(min_value=1, max_value=4),
    meaning=st.sampled_from(K_MEANINGS),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_properties_of_long_thoughts_over_random_trees(tree, k, meaning, seed):
    # when
    thoughts = derive_long_thoughts(tree, k=k, seed=seed, k_meaning=meaning)

    # then: one long thought per correct path, in order
    assert [list(t.path) for t in thoughts] == correct_paths(tree)
    # and the same seed gives the same walks
    assert derive_long_thoughts(tree, k=k, seed=seed, k_meaning=meaning) == thoughts
    on_correct_path = correct_path_nodes(tree)
    for thought in thoughts:
        check_walk(tree, thought)
        # never more trials at a node of the path than K allows (the correct move counted)
        allowed = k - 1 if meaning == "trials" else k
        assert all(thought.detours_at(node) <= allowed for node in thought.path)
        # no reflection follows a correct answer or a step on a correct path; each follows the
        # node it reflects on, which has a stored wrong verdict
        paragraphs = draft_paragraphs(tree, thought)
        for before, reflection in pairwise(paragraphs):
            if reflection.kind == "reflection":
                assert before.node_id == reflection.node_id
                assert before.node_id not in on_correct_path
                assert tree.node(before.node_id).is_correct is not True
                assert tree.node(before.node_id).wrong is not None
        assert thought.trials == sum(p.kind == "reflection" for p in paragraphs)


def can_start_a_detour(tree: Tree, node_id: int) -> bool:
    """Written apart from the walk: off every correct path, and a dead end is reachable
    without passing through another dead end."""
    if node_id in correct_path_nodes(tree):
        return False
    children = tree.children(node_id)
    if tree.node(node_id).wrong is not None:
        return True
    return any(can_start_a_detour(tree, child) for child in children)


@settings(max_examples=300, deadline=None)
@given(tree=random_trees(), k=st.integers(1, 4), seed=st.integers(0, 2**32))
def test_every_node_of_the_path_gets_as_many_detours_as_k_and_the_tree_allow(tree, k, seed):
    for thought in derive_long_thoughts(tree, k=k, seed=seed):
        for here in thought.path[:-1]:
            available = sum(can_start_a_detour(tree, c) for c in tree.children(here))
            assert thought.detours_at(here) == min(k - 1, available)


def small_tree() -> Tree:
    tree = Tree(problem=ProblemSpec(key="eq", text="Solve 3x = 6."))
    tree.add_child(0, "Try x = 2.")  # 1, on the path
    wrong = tree.add_child(0, "Try x = 3.")  # 2
    wrong.judged_correct, wrong.reason = False, "3 * 3 is 9, not 6."
    right = tree.add_child(1, "3 * 2 = 6, so the answer is 2.")  # 3
    right.final_answer, right.is_correct = "2", True
    guess = tree.add_child(1, "So the answer is 4.")  # 4
    guess.final_answer, guess.is_correct = "4", False
    record_wrong_verdicts(tree, wrong_below=None)
    return tree


def test_render_draft_inserts_reflection_and_backtrack_at_each_wrong_leaf():
    # given
    tree = small_tree()
    thought = first_thought(tree, k=2, seed=0)

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
    record_wrong_verdicts(tree, wrong_below=0.5)

    # when
    thought = first_thought(tree, k=2, seed=0)

    # then: "2" (a PRM score of 0.1) and "1.1" (a wrong answer) are the detours
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


TEX_SPACE = "\\, "  # a thin space in TeX: "d1\\, a" is the step "d1 a"


@st.composite
def duplicated_searches(draw: st.DrawFn) -> tuple[Tree, int]:
    """A tree grown by build_trees whose policy often proposes the same step twice (from a
    vocabulary of 3 texts per depth, spelled with stray spaces), judged and answer-graded."""
    width = draw(st.integers(2, 4))
    rng_seed = draw(st.integers(0, 2**16))
    import random

    rng = random.Random(rng_seed)
    judge = draw(st.booleans())

    def expand(requests: list[ExpandRequest]) -> list[list[str]]:
        return [
            [
                # near-duplicates: stray spaces, a full stop, TeX spacing
                f"d{len(r.steps)}"
                + rng.choice([" ", TEX_SPACE])
                + rng.choice("abc")
                + rng.choice(["", " ", ".", " ."])
                for _ in range(width)
            ]
            for r in requests
        ]

    def score(requests: list[ScoreRequest]) -> list[ScoreResult]:
        return [
            ScoreResult(rng.random(), judged_correct=(rng.random() < 0.6) if judge else None)
            for _ in requests
        ]

    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=expand,
        score=score,
        width=width,
        keep=draw(st.integers(1, 3)),
        max_depth=draw(st.integers(1, 4)),
        is_final=lambda text: (
            text.split()[1] if text.split()[1] in "ab" and rng.random() < 0.5 else None
        ),
        mode="judge" if judge else "beam",
    )
    grade_leaves(tree, lambda answer: answer == "a")
    record_wrong_verdicts(tree, wrong_below=None if judge else draw(st.sampled_from([0.2, 0.5])))
    return tree, width


@settings(max_examples=1000, deadline=None)
@given(duplicated_searches(), st.integers(0, 3), st.sampled_from([1, 2, 3]))
def test_merged_duplicates_are_walked_once_and_never_rejected_twice(search, seed, k):
    # given a tree built with duplicate candidates
    tree, width = search
    # then: under each parent, one node per distinct step, carrying how many were proposed
    for node in tree.nodes:
        children = [tree.node(c) for c in tree.children(node.id)]
        keys = [same_step_key(child.text) for child in children]
        assert len(keys) == len(set(keys))
        if children:
            assert sum(child.copies for child in children) == width
    # and a long thought of every correct path never rejects one step twice
    for thought in derive_long_thoughts(tree, k=k, seed=seed):
        rejected = [e.node_id for e in thought.events if e.kind == "wrong_leaf"]
        assert len(rejected) == len(set(rejected))
        texts = [(tree.node(i).parent, same_step_key(tree.node(i).text)) for i in rejected]
        assert len(texts) == len(set(texts))
        assert not set(thought.walked) - set(range(len(tree.nodes)))
        # every reflection follows a node with a stored wrong verdict (pruned alone is none),
        # and the same seed gives the same walk
        for paragraph in draft_paragraphs(tree, thought):
            if paragraph.kind == "reflection":
                assert tree.node(paragraph.node_id).wrong is not None
        assert derive_long_thoughts(tree, k=k, seed=seed) == derive_long_thoughts(
            tree, k=k, seed=seed
        )


def pruned_by_rank_tree() -> Tree:
    """A beam of 1 over two good first steps: "b" (0.95) loses to "a" (0.97) by rank only."""
    scores = {"a": 0.97, "b": 0.95, "a.x": 0.9, "b.x": 0.9}

    def expand(requests: list[ExpandRequest]) -> list[list[str]]:
        # width 2: under "a", "a.x" is proposed twice and merged
        return [["a", "b"] if not r.steps else [f"{r.steps[-1]}.x"] * 2 for r in requests]

    def score(requests: list[ScoreRequest]) -> list[ScoreResult]:
        return [ScoreResult(scores[r.candidate]) for r in requests]

    [tree] = build_trees(
        [ProblemSpec(key="p", text="P")],
        expand=expand,
        score=score,
        width=2,
        keep=1,
        max_depth=2,
        is_final={"a.x": "4"}.get,
    )
    grade_leaves(tree, lambda answer: answer == "4")
    record_wrong_verdicts(tree, wrong_below=0.5)
    return tree


def test_a_step_pruned_by_rank_alone_is_not_wrong_and_makes_no_trial():
    # given: "b" was pruned with a high score; nobody called it wrong
    tree = pruned_by_rank_tree()
    b = next(node for node in tree.nodes if node.text == "b")
    assert b.pruned and b.wrong is None

    # when
    thought = first_thought(tree, k=3, seed=0)

    # then: no detour into "b", no reflection: a walk with no trial
    assert thought.trials == 0
    assert "doesn't look right" not in render_draft(tree, thought)


def test_a_low_prm_score_is_a_wrong_verdict_kept_with_its_number():
    tree = Tree(problem=ProblemSpec(key="p", text="P"))
    low, high, judged, answered = (tree.add_child(0, t) for t in ("low", "high", "j", "ans"))
    low.score, high.score = 0.2, 0.8
    judged.score, judged.judged_correct = 0.9, False
    answered.score, answered.final_answer, answered.is_correct = 0.1, "3", True

    record_wrong_verdicts(tree, wrong_below=0.5)

    assert [n.wrong for n in tree.nodes[1:]] == [
        Verdict("prm", 0.2),
        None,
        Verdict("judge", 0.9),
        None,  # the answer check overrules the PRM
    ]


def test_a_reflection_needs_a_stored_wrong_verdict():
    from algorithms.long_thought import NoVerdict

    tree = small_tree()
    tree.node(2).wrong = None
    thought = LongThought(
        path=(0, 1, 3),
        events=(ThoughtEvent("step", 2), ThoughtEvent("wrong_leaf", 2), ThoughtEvent("step", 3)),
    )
    with pytest.raises(NoVerdict):
        draft_paragraphs(tree, thought)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("So x = 4.", "So x=4"),
        ("$3\\,x = 6$", "$3x=6$"),
        ("Wait, the answer is 6!", "Wait the answer is 6"),
        ("$x \\quad = 2$", "$x = 2$"),
    ],
)
def test_near_duplicates_are_one_step(first, second):
    assert same_step_key(first) == same_step_key(second)


@pytest.mark.parametrize(
    ("first", "second"), [("x = -4", "x = 4"), ("3.5", "35"), ("(1,2)", "(12)"), ("ab", "a b")]
)
def test_signs_decimals_and_words_still_count(first, second):
    assert same_step_key(first) != same_step_key(second)
