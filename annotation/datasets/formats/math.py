"""MATH: JSONL of {problem, solution, answer, subject, level, unique_id}."""

import re
from typing import Any

from algorithms.answers import extract_answer
from annotation.datasets.fields import Fields
from annotation.datasets.records import ImportRecord, ProblemRecord
from annotation.problems.models import Problem

NAME = "math"
_LEVEL = re.compile(r"^(?:Level\s*)?(\d+)$")


def parse(line: int, obj: Any) -> ImportRecord:
    record = Fields(obj, line)
    problem = record.text("problem")
    solution = record.text("solution")
    answer = record.string("answer", required=False, nullable=True)
    if answer is None:
        answer = extract_answer(solution)
        if answer is None:
            raise record.error("answer", "is missing and the solution has no \\boxed{...} answer")
    return ImportRecord(
        line=line,
        problem=ProblemRecord(
            text=problem,
            external_id=record.string("unique_id", required=False),
            answer=answer,
            solution=solution,
            subject=record.string("subject", required=False) or "",
            level=parse_level(record, "level"),
        ),
    )


def parse_level(record: Fields, key: str) -> int | None:
    value = record.obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        match = _LEVEL.match(value.strip())
        if match:
            return int(match.group(1))
        if value.strip() == "?":  # MATH has a few problems of unknown level
            return None
    raise record.error(key, f'expected an integer or "Level N", got {value!r}')


def export_row(problem: Problem) -> dict[str, Any]:
    return {
        "problem": problem.text,
        "solution": problem.solution,
        "answer": problem.answer,
        "subject": problem.subject,
        "level": problem.level,
        "unique_id": problem.external_id,
    }
