"""GSM8K: JSONL of {question, answer}; the final answer follows '####'."""

from typing import Any

from annotation.datasets.fields import Fields
from annotation.datasets.records import ImportRecord, ProblemRecord
from annotation.problems.models import Problem

NAME = "gsm8k"


def parse(line: int, obj: Any) -> ImportRecord:
    record = Fields(obj, line)
    solution = record.text("answer")
    _, sep, answer = solution.rpartition("####")
    if not sep or not answer.strip():
        raise record.error("answer", "has no final answer after '####'")
    if solution.count("####") > 1:  # "#### 1 #### 2" used to be stored as 2
        raise record.error(
            "answer", "has '####' more than once; GSM8K's answer ends with one '#### <answer>'"
        )
    return ImportRecord(
        line=line,
        problem=ProblemRecord(
            text=record.text("question"), answer=answer.strip(), solution=solution
        ),
        key_field="question",
    )


def export_row(problem: Problem) -> dict[str, Any]:
    return {"question": problem.text, "answer": problem.solution}
