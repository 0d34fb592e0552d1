"""ProcessBench: {id, generator, problem, steps, final_answer_correct, label}.

`label` is the 0-based index of the earliest wrong step, or -1 when every step is right:
the steps before it get +1, the labeled step -1, later steps no grade.
"""

from typing import Any

from algorithms.answers import extract_answer
from annotation.datasets import limits
from annotation.datasets.fields import Fields
from annotation.datasets.records import ImportRecord, ProblemRecord, StepRecord, TraceRecord
from annotation.problems.selectors import TraceView

NAME = "processbench"
GRADER = "processbench"


def parse(line: int, obj: Any) -> ImportRecord:
    record = Fields(obj, line)
    steps = record.array("steps")
    assert steps is not None
    if not steps:
        raise record.error("steps", "is empty")
    record.check_count("steps", steps, "steps", limits.MAX_STEPS)
    for index, step in enumerate(steps):
        if not isinstance(step, str):
            raise record.error(f"steps[{index}]", "expected a string")
    label = record.integer("label")
    assert label is not None
    if not -1 <= label < len(steps):
        raise record.error(
            "label", f"{label} is out of range for {len(steps)} steps (use -1 for no error)"
        )
    first_error = label if label >= 0 else len(steps)
    step_records = [
        StepRecord(
            position=index,
            text=text,
            rating=1 if index < first_error else (-1 if index == first_error else None),
        )
        for index, text in enumerate(steps)
    ]
    return ImportRecord(
        line=line,
        problem=ProblemRecord(text=record.text("problem")),
        trace=TraceRecord(
            external_id=record.text("id", max_length=limits.TRACE_ID_LENGTH),
            steps=step_records,
            grader=GRADER,
            final_answer=extract_answer(steps[-1]),
            is_correct=record.boolean("final_answer_correct"),
            metadata={"generator": record.string("generator", required=False) or ""},
        ),
        key_field="id",
    )


def export_row(view: TraceView) -> dict[str, Any]:
    trace = view.trace
    return {
        "id": trace.external_id or f"stepwise-{trace.pk}",
        "generator": trace.metadata.get("generator", ""),
        "problem": trace.problem.text,
        "steps": [s.text for s in view.path],
        "final_answer_correct": trace.is_correct,
        "label": view.first_error(),
    }
