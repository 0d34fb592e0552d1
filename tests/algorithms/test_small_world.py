import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms import small_world
from algorithms.answers import extract_answer, grade_answer
from algorithms.steps import join_steps, split_steps

seeds = st.integers(min_value=0, max_value=10_000)
splits = st.sampled_from(["train", "test"])


def test_a_problem_reads_in_words_and_its_solution_in_steps() -> None:
    # given
    problem = small_world.Problem(
        12,
        (
            small_world.Operation("+", 7),
            small_world.Operation("*", 3),
            small_world.Operation("-", 5),
        ),
        "x",
    )

    # then
    assert problem.text == (
        "Start with 12. Add 7. Multiply by 3. Subtract 5. What number do you get?"
    )
    assert problem.solution() == (
        "Step 1: 12 + 7 = 19\n\nStep 2: 19 * 3 = 57\n\nStep 3: 57 - 5 = 52\n\n"
        "The answer is $\\boxed{52}$."
    )
    assert problem.level == 3
    assert small_world.problem_from_text(problem.text, "x") == problem


@given(seed=seeds, split=splits)
def test_every_generated_solution_verifies(seed: int, split: small_world.Split) -> None:
    for problem in small_world.generate(10, seed=seed, split=split):
        solution = problem.solution()
        assert small_world.verify(problem, solution).correct
        assert split_steps(solution) == problem.steps()
        assert extract_answer(solution) == str(problem.answer)
        assert grade_answer(solution, str(problem.answer)) == (str(problem.answer), True)
        assert problem.split == split
        assert all(0 <= value <= small_world.MAX_VALUE for value in problem.values)
        assert small_world.problem_from_text(problem.text, problem.unique_id) == problem


@given(seed=seeds, split=splits, data=st.data())
def test_a_changed_step_does_not_verify(
    seed: int, split: small_world.Split, data: st.DataObject
) -> None:
    # given
    problem = small_world.generate(1, seed=seed, split=split)[0]
    steps = problem.steps()
    index = data.draw(st.integers(0, len(steps) - 1))
    delta = data.draw(st.integers(1, 50) | st.integers(-50, -1))

    # when: the last number of one step is off by delta (a slip, or a wrong answer)
    changed = list(steps)
    changed[index] = _shift_last_number(steps[index], delta)

    # then
    verdict = small_world.verify(problem, join_steps(changed))
    assert not verdict.correct
    assert verdict.first_error == index
    assert verdict.answer_correct == (index < len(steps) - 1)


@given(seed=seeds, split=splits)
def test_a_missing_or_extra_step_does_not_verify(seed: int, split: small_world.Split) -> None:
    problem = small_world.generate(1, seed=seed, split=split)[0]
    steps = problem.steps()
    assert not small_world.verify(problem, join_steps(steps[1:])).correct
    assert not small_world.verify(problem, join_steps([*steps, "Step 9: 1 + 1 = 2"])).correct
    assert not small_world.verify(problem, join_steps(steps[:-1])).correct


@given(seed=seeds, split=splits)
def test_the_same_seed_gives_the_same_problems(seed: int, split: small_world.Split) -> None:
    first = small_world.generate(8, seed=seed, split=split)
    again = small_world.generate(8, seed=seed, split=split)
    assert first == again
    assert len({p.unique_id for p in first}) == 8
    assert [p.level for p in first] == [1, 2, 3, 4, 5, 1, 2, 3]


@given(train_seed=seeds, test_seed=seeds)
def test_held_out_problems_are_never_training_problems(train_seed: int, test_seed: int) -> None:
    train = small_world.generate(60, seed=train_seed, split="train")
    test = small_world.generate(20, seed=test_seed, split="test")
    assert not {p.text for p in train} & {p.text for p in test}
    assert not {p.unique_id for p in train} & {p.unique_id for p in test}


def _shift_last_number(step: str, delta: int) -> str:
    head, number, tail = _last_number(step)
    return f"{head}{int(number) + delta}{tail}"


def _last_number(step: str) -> tuple[str, str, str]:
    match = list(re.finditer(r"-?\d+", step))[-1]
    return step[: match.start()], match.group(0), step[match.end() :]


def test_asking_for_more_problems_than_a_level_has_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="level 1 has no"):
        small_world.generate(3000, seed=0, split="train", levels=(1,))
