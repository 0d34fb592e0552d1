import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from algorithms.answers import (
    answers_equivalent,
    answers_equivalent_many,
    extract_answer,
    grade_answer,
)
from algorithms.verifier import _VerifierProcess, _WorkerFailure
from tests.conftest import PRM800K_DIR

MATH_500 = PRM800K_DIR / "math_splits_test.jsonl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so $\boxed{5}$.", "5"),
        (r"$\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
        (r"\boxed{ {a}+{b} }", "{a}+{b}"),
        (r"first \boxed{1}, then \boxed{2}.", "2"),
        (r"\fbox{7}", "7"),
        (r"the set $\boxed{\{1, 2\}}$", r"\{1, 2\}"),
        (r"$\boxed 5$", "5"),
        (r"\boxed{3} and an unclosed \boxed{4", "3"),
        ("So the answer is 12.", "12"),
        (r"Thus the answer is: $\frac{3}{4}$.", r"\frac{3}{4}"),
        ("The answer is 1.\nThe answer is 2.", "2"),
        (r"The Answer is $\$18.90$.", r"\$18.90"),
        ("Natalia sold 48 clips.\n#### 72", "72"),
        ("So a pencil costs 29 cents.\n\n# Answer\n\n29", "29"),
        ("# Answer\n\n\\boxed{3}", "3"),
        ("No final answer here.", None),
        (r"\boxed{}", None),
        ("", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("predicted", "truth"),
    [
        (r"\frac12", "0.5"),
        (r"\dfrac{1}{2}", r"\frac{1}{2}"),
        (r"(3, \frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)"),
        (r"10\%", "10"),
        ("x=5", "5"),
        (r"\text{(B)}", "B"),
        (r"\sqrt{2}", "2^{1/2}"),
        ("(x+1)^2", "x^2+2x+1"),
        (r"$\$18.90$", r"\$18.90"),
        ("  5 ", "5"),
    ],
)
def test_answers_equivalent_accepts_equal_values(predicted: str, truth: str) -> None:
    assert answers_equivalent(predicted, truth) is True


@pytest.mark.parametrize(
    ("predicted", "truth"),
    [
        ("3", "4"),
        ("0.33", r"\frac{1}{3}"),
        (r"\text{(B)}", r"\text{(C)}"),
        ("[1,2]", "[1,2)"),
        ("x^2", "2x"),
        ("", "5"),
        ("5", "  "),
        ("not math at all", "5"),
    ],
)
def test_answers_equivalent_rejects_different_values(predicted: str, truth: str) -> None:
    assert answers_equivalent(predicted, truth) is False


def test_answers_equivalent_many_keeps_the_order_of_pairs() -> None:
    # given
    pairs = [("1", "1"), (r"\frac{2}{4}", "0.5"), ("2", "3"), ("x=5", "5"), ("", "")] * 30

    # when
    results = answers_equivalent_many(pairs)

    # then
    assert results == [True, True, False, True, False] * 30


def test_answers_equivalent_works_from_threads() -> None:
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(answers_equivalent(r"\frac{6}{3}", "2")))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [True] * 5


def test_pathological_expression_times_out_and_the_pool_still_works() -> None:
    # given
    start = time.monotonic()

    # when
    equivalent = answers_equivalent("9^{9^{9^{9^{9}}}}", "1", timeout_s=1)

    # then: a hang guard, not a performance assertion
    assert equivalent is False
    assert time.monotonic() - start < 10
    assert answers_equivalent(r"\frac{1}{2}", "0.5") is True


def _child_process_ids() -> set[int]:
    own = Path(f"/proc/{os.getpid()}/task")
    return {int(pid) for task in own.iterdir() for pid in (task / "children").read_text().split()}


def _grade_in_forked_child(results: "multiprocessing.Queue[tuple[bool, int]]") -> None:
    equivalent = answers_equivalent(r"\frac{3}{6}", "0.5")
    results.put((equivalent, len(_child_process_ids())))


def test_a_forked_child_starts_its_own_verifier_processes() -> None:
    # given: the parent's pool is running (as in a Celery prefork parent)
    assert answers_equivalent(r"\frac{2}{4}", "0.5") is True
    fork = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[bool, int]] = fork.Queue()

    # when
    child = fork.Process(target=_grade_in_forked_child, args=(results,))
    child.start()
    child.join(timeout=60)

    # then: the child graded with a verifier process of its own, not through the parent's pipes
    assert child.exitcode == 0
    assert results.get(timeout=1) == (True, 1)
    assert answers_equivalent(r"\frac{4}{8}", "0.5") is True


def test_stuck_verifier_process_misses_its_deadline() -> None:
    # given: a real verifier process that stops answering
    worker = _VerifierProcess()
    os.kill(worker.pid, signal.SIGSTOP)
    start = time.monotonic()

    # when / then
    with pytest.raises(_WorkerFailure, match="deadline"):
        worker.verify([("1", "2")], timeout_s=0.5)
    assert time.monotonic() - start < 10
    worker.kill()
    assert not worker.alive()


def test_grade_answer() -> None:
    assert grade_answer(r"so $x = \boxed{\frac{1}{2}}$", "0.5") == (r"\frac{1}{2}", True)
    assert grade_answer(r"so $x = \boxed{3}$", "4") == ("3", False)
    assert grade_answer(r"so $x = \boxed{3}$", None) == ("3", None)
    assert grade_answer("no answer", "4") == (None, None)


def test_math_500_answers_are_extracted_from_the_reference_solutions() -> None:
    # given
    rows = [json.loads(line) for line in MATH_500.read_text().splitlines()]

    # when
    extracted = [extract_answer(row["solution"]) for row in rows]

    # then
    assert len(rows) == 500
    assert sum(answer == row["answer"] for answer, row in zip(extracted, rows, strict=True)) == 500


def test_math_500_answers_are_equivalent_to_themselves() -> None:
    rows = [json.loads(line) for line in MATH_500.read_text().splitlines()]
    answers = [row["answer"] for row in rows]

    assert answers_equivalent_many([(answer, answer) for answer in answers]) == [True] * 500
    # with math delimiters added, every pair goes through math_verify in the pool
    delimited = [(f"${answer}$", answer) for answer in answers]
    assert answers_equivalent_many(delimited) == [True] * 500
