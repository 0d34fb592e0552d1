"""A small world: chains of integer operations stated in words, with an exact verifier.

Every problem is made from a seed (the same seed gives the same problems), has a difficulty
level (the number of operations), a worked solution with one step per operation, and an
answer in the project's format:

    Start with 12. Add 7. Multiply by 3. Subtract 5. What number do you get?

    Step 1: 12 + 7 = 19

    Step 2: 19 * 3 = 57

    Step 3: 57 - 5 = 52

    The answer is $\\boxed{52}$.

Steps are separated by blank lines, as `algorithms.steps.split_steps` splits them, and the
final answer is read by `algorithms.answers.extract_answer`. Which split a problem belongs to
is a function of the problem itself (a hash of its operations), so the held-out test problems
are never among the training problems, whatever seeds the two were generated from.

Pure: no Django, no torch. A tiny model learns this world on a CPU (workers/small_world_model.py).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from algorithms.answers import extract_answer
from algorithms.steps import join_steps, split_steps

Split = Literal["train", "test"]
Op = Literal["+", "-", "*"]
LEVELS = (1, 2, 3, 4, 5)  # the number of operations in the chain
# One problem in TEST_BUCKETS of BUCKETS is held out, decided by the problem's own hash.
BUCKETS = 10
TEST_BUCKETS = 1
MAX_VALUE = 999  # every intermediate result stays in 0..MAX_VALUE
SUBJECT = "Small world"
MAX_TRIES = 10_000  # draws in a row that give no new problem before generate() gives up
ID_PREFIX = "small-world"
# The tree form's default prompt, one of the prompts the small world's model was trained under
# (workers/small_world_model.py); a tree job on that model sends it.
TREE_FORM_PROMPT = "Solve step by step and put the final answer in \\boxed{}.\n\n{{ problem }}"

_WORDS: dict[Op, str] = {"+": "Add {n}.", "-": "Subtract {n}.", "*": "Multiply by {n}."}
_OP_OF_WORD: dict[str, Op] = {"Add": "+", "Subtract": "-", "Multiply by": "*"}


@dataclass(frozen=True)
class Operation:
    op: Op
    operand: int

    def apply(self, value: int) -> int:
        if self.op == "+":
            return value + self.operand
        if self.op == "-":
            return value - self.operand
        return value * self.operand


@dataclass(frozen=True)
class Problem:
    start: int
    operations: tuple[Operation, ...]
    unique_id: str

    @property
    def level(self) -> int:
        return len(self.operations)

    @property
    def text(self) -> str:
        words = " ".join(_WORDS[o.op].format(n=o.operand) for o in self.operations)
        return f"Start with {self.start}. {words} What number do you get?"

    @property
    def values(self) -> list[int]:
        """The start and every intermediate result; the last one is the answer."""
        values = [self.start]
        for operation in self.operations:
            values.append(operation.apply(values[-1]))
        return values

    @property
    def answer(self) -> int:
        return self.values[-1]

    @property
    def split(self) -> Split:
        return split_of(self.start, self.operations)

    def steps(self) -> list[str]:
        """The worked solution, one step per operation, then the answer."""
        values = self.values
        steps = [
            step_text(k + 1, values[k], operation, values[k + 1])
            for k, operation in enumerate(self.operations)
        ]
        return [*steps, answer_text(self.answer)]

    def solution(self) -> str:
        return join_steps(self.steps())


def step_text(number: int, left: int, operation: Operation, result: int) -> str:
    return f"Step {number}: {left} {operation.op} {operation.operand} = {result}"


def answer_text(answer: int) -> str:
    return f"The answer is $\\boxed{{{answer}}}$."


def split_of(start: int, operations: Sequence[Operation]) -> Split:
    """The split a problem belongs to: a stable hash of its start and operations."""
    key = f"{start}|" + "|".join(f"{o.op}{o.operand}" for o in operations)
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % BUCKETS
    return "test" if bucket < TEST_BUCKETS else "train"


def random_problem(rng: random.Random, level: int) -> tuple[int, tuple[Operation, ...]]:
    """A chain of `level` operations whose every result stays in 0..MAX_VALUE."""
    value = rng.randint(2, 20)
    start = value
    operations = []
    for _ in range(level):
        allowed: tuple[tuple[Op, bool], ...] = (
            ("+", value < MAX_VALUE),
            ("-", value > 0),
            ("*", value * 2 <= MAX_VALUE),
        )
        choices = [op for op, possible in allowed if possible]
        op = rng.choice(choices)
        if op == "+":
            operand = rng.randint(1, min(20, MAX_VALUE - value))
        elif op == "-":
            operand = rng.randint(1, min(20, value))
        else:
            operand = rng.randint(2, min(4, MAX_VALUE // max(value, 1)))
        operation = Operation(op, operand)
        operations.append(operation)
        value = operation.apply(value)
    return start, tuple(operations)


def generate(
    count: int, *, seed: int, split: Split, levels: Sequence[int] = LEVELS
) -> list[Problem]:
    """`count` distinct problems of `split`, levels in turn, the same for the same arguments."""
    for level in levels:
        if level not in LEVELS:
            raise ValueError(f"level {level} is not one of {LEVELS}")
    return list(_problems(count, seed=seed, split=split, levels=tuple(levels)))


def _problems(count: int, *, seed: int, split: Split, levels: tuple[int, ...]) -> Iterator[Problem]:
    rng = random.Random(f"{ID_PREFIX}:{seed}:{split}")
    seen: set[tuple[int, tuple[Operation, ...]]] = set()
    made = tries = 0
    while made < count:
        level = levels[made % len(levels)]
        start, operations = random_problem(rng, level)
        if (start, operations) in seen or split_of(start, operations) != split:
            tries += 1
            if tries > MAX_TRIES:  # the level has fewer distinct problems than asked for
                raise ValueError(
                    f"level {level} has no {count // len(levels) + 1} distinct problems"
                )
            continue
        tries = 0
        seen.add((start, operations))
        yield Problem(start, operations, f"{ID_PREFIX}/{split}/s{seed}/{made}")
        made += 1


@dataclass(frozen=True)
class Verdict:
    """A solution checked step by step: the index of its first wrong step (None when every
    step is right) and whether its final answer is right."""

    first_error: int | None
    answer_correct: bool

    @property
    def correct(self) -> bool:
        return self.first_error is None and self.answer_correct


def verify(problem: Problem, solution: str) -> Verdict:
    """Check every step of `solution` exactly: step k must apply the problem's k-th operation
    to the previous result and compute it right; then the answer step states the result."""
    steps = split_steps(solution)
    answer = extract_answer(solution)
    answer_correct = answer is not None and answer.strip() == str(problem.answer)
    for index, step in enumerate(steps):
        if not step_correct(problem, steps[:index], step):
            return Verdict(index, answer_correct)
    if len(steps) != problem.level + 1:
        return Verdict(len(steps), answer_correct)
    return Verdict(None, answer_correct)


def step_correct(problem: Problem, previous: Sequence[str], step: str) -> bool:
    """Whether `step` is the right next step after the (right) steps `previous`."""
    index = len(previous)
    values = problem.values
    if index < problem.level:
        operation = problem.operations[index]
        return step.strip() == step_text(index + 1, values[index], operation, values[index + 1])
    return index == problem.level and step.strip() == answer_text(problem.answer)


def problem_from_text(text: str, unique_id: str = "") -> Problem | None:
    """The problem a text states (the inverse of Problem.text), or None for another text."""
    match = re.fullmatch(r"Start with (\d+)\. (.*) What number do you get\?", text.strip())
    if match is None:
        return None
    operations = []
    for sentence in re.findall(r"[^.]+\.", match.group(2)):
        found = re.fullmatch(r"\s*(Add|Subtract|Multiply by) (\d+)\.", sentence)
        if found is None:
            return None
        operations.append(Operation(_OP_OF_WORD[found.group(1)], int(found.group(2))))
    if not operations:
        return None
    return Problem(int(match.group(1)), tuple(operations), unique_id)
