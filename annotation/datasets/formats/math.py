"""MATH: JSONL of {problem, solution, answer, subject, level, unique_id}."""

import re
from typing import Any

from algorithms.answers import extract_answer
from annotation.datasets import limits
from annotation.datasets.fields import Fields, shown
from annotation.datasets.records import ImportRecord, ProblemRecord
from annotation.problems.models import Problem

NAME = "math"
_LEVEL = re.compile(r"^(?:Level\s*)?(\d{1,18})$")  # 18 digits: int() of more is not needed


def parse(line: int, obj: Any) -> ImportRecord:
    record = Fields(obj, line)
    problem = record.text("problem")
    solution = record.text("solution")
    answer = record.string("answer", required=False, nullable=True)
    if answer is None:
        answer = extract_answer(solution)
        if answer is None:
            raise record.error("answer", "is missing and the solution has no \\boxed{...} answer")
    external_id = record.string("unique_id", required=False, max_length=limits.PROBLEM_ID_LENGTH)
    subject = record.string("subject", required=False, max_length=limits.SUBJECT_LENGTH)
    return ImportRecord(
        line=line,
        problem=ProblemRecord(
            text=problem,
            external_id=external_id,
            answer=answer,
            solution=solution,
            subject=subject or "",
            level=parse_level(record, "level"),
        ),
        key_field="unique_id" if external_id else "problem",
    )


def parse_level(record: Fields, key: str) -> int | None:
    value = record.obj.get(key)
    if isinstance(value, str):
        if value.strip() == "?":  # MATH has a few problems of unknown level
            return None
        match = _LEVEL.match(value.strip())
        if match:
            value = int(match.group(1))
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise record.error(key, f'expected an integer or "Level N", got {shown(value)}')
    record.check_bounds(key, value, limits.LEVELS)
    return value


def export_row(problem: Problem) -> dict[str, Any]:
    return {
        "problem": problem.text,
        "solution": problem.solution,
        "answer": problem.answer,
        "subject": problem.subject,
        "level": problem.level,
        "unique_id": problem.external_id,
    }
