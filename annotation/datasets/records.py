"""What a parsed dataset record becomes before it is written: a problem and maybe one trace."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ProblemRecord:
    text: str
    external_id: str | None = None  # None: the problem is found (or keyed) by its text
    answer: str | None = None
    solution: str | None = None
    subject: str = ""
    level: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StepRecord:
    position: int
    text: str
    option: int | None = None
    on_path: bool = True
    rating: int | None = None
    flagged: bool | None = None
    extra: dict[str, Any] | None = None
    kind: str = "step"


@dataclass(slots=True)
class TraceRecord:
    external_id: str
    steps: list[StepRecord]
    grader: str | None = None  # the grade source of the ratings
    final_answer: str | None = None
    is_correct: bool | None = None  # None: graded against the problem's answer on import
    finish_reason: str | None = None
    time_spent_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ImportRecord:
    line: int
    problem: ProblemRecord
    trace: TraceRecord | None = None
    key_field: str = "(record)"  # the field that identifies the record, for "the same as line N"
