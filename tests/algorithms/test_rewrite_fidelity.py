from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.long_thought import LongThought, ThoughtEvent, derive_long_thoughts, render_draft
from algorithms.rewrite_fidelity import check_rewrite
from algorithms.tree_search import ProblemSpec, Tree, Verdict, record_wrong_verdicts
from tests.algorithms.test_long_thought import random_trees


def tree_with_a_wrong_answer() -> tuple[Tree, LongThought]:
    tree = Tree(problem=ProblemSpec(key="eq", text="Solve 3x = 6."))
    tree.add_child(0, "Divide by 3.")  # 1
    wrong = tree.add_child(1, "So the answer is $\\boxed{3}$.")  # 2
    wrong.final_answer, wrong.is_correct = "3", False
    right = tree.add_child(1, "6 / 3 = 2, so $\\boxed{2}$.")  # 3
    right.final_answer, right.is_correct = "2", True
    thought = LongThought(
        path=(0, 1, 3),
        events=(
            ThoughtEvent("step", 1),
            ThoughtEvent("step", 2),
            ThoughtEvent("wrong_leaf", 2),
            ThoughtEvent("backtrack", 1),
            ThoughtEvent("step", 3),
        ),
    )
    return tree, thought


def test_a_faithful_rewrite_passes():
    # given
    tree, thought = tree_with_a_wrong_answer()
    rewrite = (
        "Divide both sides by 3. Maybe the answer is 3? Wait, 3 * 3 is 9. "
        "Let me redo it: $\\boxed{2}$."
    )

    # when
    fidelity = check_rewrite(tree, thought, rewrite)

    # then
    assert fidelity.passed
    assert fidelity.as_dict() == {
        "trials_expected": 1,
        "trials_missing": [],
        "trials_out_of_order": False,
        "wrong_answers_missing": [],
        "reflections_expected": 1,
        "reflections_found": 1,
        "reflections_out_of_order": False,
        "backtracks_expected": 1,
        "backtracks_found": 1,
        "correct_called_wrong": [],
        "final_answer_expected": "2",
        "final_answer_found": "2",
        "final_answer_kept": True,
        "reasons": [],
    }


def test_a_rewrite_that_drops_the_wrong_try_and_its_reflection_fails():
    tree, thought = tree_with_a_wrong_answer()

    fidelity = check_rewrite(tree, thought, "Divide both sides by 3: $\\boxed{2}$.")

    assert not fidelity.passed
    assert fidelity.wrong_answers_missing == ("3",)
    assert fidelity.reflections_found == 0


def test_a_rewrite_with_another_final_answer_fails_unless_the_grader_says_it_is_the_same():
    tree, thought = tree_with_a_wrong_answer()
    rewrite = "The answer is 3? Wait, 3 * 3 = 9. Let me redo it: $\\boxed{4/2}$."

    assert not check_rewrite(tree, thought, rewrite).final_answer_kept
    assert check_rewrite(tree, thought, rewrite, same_answer=lambda a, b: a == "4/2").passed


# The O1-Journey rules: every trial of the draft in order, each reflection and backtrack, the
# final answer unchanged, nothing on the correct path called wrong ------------------------------


def two_trial_draft() -> tuple[Tree, LongThought]:
    """Solve 2x = 8: a wrong answer tried at the root (subtract 3: 5), a step the judge rejected
    after "Divide both sides by 2." (multiply: 16), then the solution 4."""
    tree = Tree(problem=ProblemSpec(key="eq", text="Solve 2x = 8."))
    tree.add_child(0, "Divide both sides by 2.")  # 1
    wrong = tree.add_child(0, "Subtract 3 from both sides: 2x - 3 = 5, so $\\boxed{5}$.")  # 2
    wrong.final_answer, wrong.is_correct = "5", False
    wrong.wrong = Verdict("answer", 0.0)
    rejected = tree.add_child(1, "Multiply instead, giving x = 16.")  # 3
    rejected.judged_correct, rejected.wrong = False, Verdict("judge", 0.1)
    right = tree.add_child(1, "x = 8 / 2 = 4, so $\\boxed{4}$.")  # 4
    right.final_answer, right.is_correct = "4", True
    thought = LongThought(
        path=(0, 1, 4),
        events=(
            ThoughtEvent("step", 2),
            ThoughtEvent("wrong_leaf", 2),
            ThoughtEvent("backtrack", 0),
            ThoughtEvent("step", 1),
            ThoughtEvent("step", 3),
            ThoughtEvent("wrong_leaf", 3),
            ThoughtEvent("backtrack", 1),
            ThoughtEvent("step", 4),
        ),
    )
    return tree, thought


FAITHFUL = (
    "Let me subtract 3 from both sides: 2x - 3 = 5, so the answer would be 5. "
    "Wait, that doesn't look right. Let me go back to the beginning. "
    "Divide both sides by 2. Maybe I should multiply instead, giving x = 16? "
    "Hmm, that is wrong. Going back to the division: x = 8 / 2 = 4, so $\\boxed{4}$."
)


def test_a_faithful_rewrite_of_two_trials_passes():
    tree, thought = two_trial_draft()

    fidelity = check_rewrite(tree, thought, FAITHFUL)

    assert fidelity.reasons == ()
    assert fidelity.passed


def test_a_rewrite_that_drops_a_wrong_step_fails():
    # given: the judge-rejected "multiply ... 16" is gone, the wrong answer 5 stays
    tree, thought = two_trial_draft()
    rewrite = (
        "Let me subtract 3 from both sides: 2x - 3 = 5, so the answer would be 5. "
        "Wait, that doesn't look right. Let me go back to the beginning. "
        "Divide both sides by 2. Hmm, let me check. Let me go back: "
        "x = 8 / 2 = 4, so $\\boxed{4}$."
    )

    fidelity = check_rewrite(tree, thought, rewrite)

    assert not fidelity.passed
    assert fidelity.trials_missing == (3,)


def test_a_rewrite_with_no_trial_fails():
    # given: the wrong answer is named and waved away, never tried
    tree, thought = two_trial_draft()
    rewrite = (
        "Wait, is it 5? Wait, no. Is it 16? Wait, no. Let me go back. Let me go back again. "
        "Divide both sides by 2: x = 8 / 2 = 4, so $\\boxed{4}$."
    )

    fidelity = check_rewrite(tree, thought, rewrite)

    assert not fidelity.passed
    assert fidelity.trials_missing == (2, 3)


def test_a_rewrite_that_calls_the_correct_answer_wrong_fails():
    tree, thought = two_trial_draft()
    rewrite = FAITHFUL.replace(
        "so $\\boxed{4}$.", "so x = 4. Hmm, 4 is wrong too. Anyway, $\\boxed{4}$."
    )

    fidelity = check_rewrite(tree, thought, rewrite)

    assert not fidelity.passed
    assert fidelity.correct_called_wrong


def test_a_rewrite_that_changes_the_final_answer_fails():
    tree, thought = two_trial_draft()

    fidelity = check_rewrite(tree, thought, FAITHFUL.replace("$\\boxed{4}$", "$\\boxed{6}$"))

    assert not fidelity.passed
    assert not fidelity.final_answer_kept


def test_a_rewrite_with_the_trials_out_of_order_fails():
    tree, thought = two_trial_draft()
    first, second = FAITHFUL.split("Divide both sides by 2. ")
    trial_two, solution = second.split("Going back to the division: ")
    rewrite = (
        "Divide both sides by 2. "
        + trial_two
        + "Let me go back. "
        + first
        + "Going back to the division: "
        + solution
    )

    fidelity = check_rewrite(tree, thought, rewrite)

    assert not fidelity.passed


def answers_in_their_steps(tree: Tree) -> Tree:
    """A random tree whose answering steps say their answer, as a model's steps do, graded
    by one truth (2)."""
    for node in tree.nodes[1:]:
        if node.final_answer is not None:
            node.text = f"{node.text} So the answer is $\\boxed{{{node.final_answer}}}$."
            if node.is_correct is not None:
                node.is_correct = node.final_answer == "2"
    record_wrong_verdicts(tree, wrong_below=0.5)
    return tree


@settings(max_examples=300, deadline=None)
@given(
    tree=random_trees().map(answers_in_their_steps),
    k=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_a_draft_is_faithful_to_itself(tree, k, seed):
    # every draft, copied as its own rewrite, passes: the check refuses no faithful text
    for thought in derive_long_thoughts(tree, k=k, seed=seed):
        fidelity = check_rewrite(tree, thought, render_draft(tree, thought))
        assert fidelity.reasons == ()
