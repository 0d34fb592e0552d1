import pytest

from algorithms.tree_search import ProblemSpec, Tree
from annotation.problems.models import Problem
from tests.factories import ProblemFactory, ProjectFactory


def hand_tree(problem: Problem) -> Tree:
    """0 -> 1 -> 3 (answer 2, correct); 0 -> 1 -> 4 (answer 4, wrong); 0 -> 2 (pruned, judged)."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    first = tree.add_child(0, "Try x = 2.")
    first.score = 0.9
    wrong = tree.add_child(0, "Try x = 3.")
    wrong.score, wrong.pruned, wrong.judged_correct = 0.2, True, False
    wrong.reason = "3 * 3 is 9, not 6."
    right = tree.add_child(1, "3 * 2 = 6, so the answer is $\\boxed{2}$.")
    right.score, right.final_answer, right.is_correct = 0.8, "2", True
    guess = tree.add_child(1, "So the answer is $\\boxed{4}$.")
    guess.score, guess.final_answer, guess.is_correct = 0.3, "4", False
    return tree


@pytest.fixture
def problem(db: None) -> Problem:
    return ProblemFactory(
        project=ProjectFactory(), text="Solve 3x = 6.", answer="2", subject="Algebra", level=2
    )
