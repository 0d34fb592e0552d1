from algorithms.long_thought import LongThought, ThoughtEvent
from algorithms.rewrite_fidelity import check_rewrite
from algorithms.tree_search import ProblemSpec, Tree


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
    rewrite = "Divide both sides by 3. Maybe x = 3? Wait, 3 * 3 is 9. Let me redo it: $\\boxed{2}$."

    # when
    fidelity = check_rewrite(tree, thought, rewrite)

    # then
    assert fidelity.passed
    assert fidelity.as_dict() == {
        "wrong_answers_missing": [],
        "reflections_expected": 1,
        "reflections_found": 1,
        "final_answer_expected": "2",
        "final_answer_found": "2",
        "final_answer_kept": True,
    }


def test_a_rewrite_that_drops_the_wrong_try_and_its_reflection_fails():
    tree, thought = tree_with_a_wrong_answer()

    fidelity = check_rewrite(tree, thought, "Divide both sides by 3: $\\boxed{2}$.")

    assert not fidelity.passed
    assert fidelity.wrong_answers_missing == ("3",)
    assert fidelity.reflections_found == 0


def test_a_rewrite_with_another_final_answer_fails_unless_the_grader_says_it_is_the_same():
    tree, thought = tree_with_a_wrong_answer()
    rewrite = "x = 3? Wait, 3 * 3 = 9. The answer is $\\boxed{4/2}$."

    assert not check_rewrite(tree, thought, rewrite).final_answer_kept
    assert check_rewrite(tree, thought, rewrite, same_answer=lambda a, b: a == "4/2").passed
