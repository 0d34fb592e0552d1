"""Math-Shepherd: {input, label, task}; each step of `input` ends with the tag 'ки' and
`label` is the same text with each tag replaced by '+' or '-'."""

import hashlib
import re
from typing import Any

from algorithms.answers import extract_answer
from algorithms.prm_inputs import MATH_SHEPHERD_TAG, math_shepherd_input
from annotation.datasets import limits
from annotation.datasets.fields import Fields
from annotation.datasets.records import ImportRecord, ProblemRecord, StepRecord, TraceRecord
from annotation.problems.selectors import TraceView

NAME = "math-shepherd"
GRADER = "math-shepherd"
TAG = MATH_SHEPHERD_TAG
_STEP_PREFIX = re.compile(r"^Step \d+:\s*")
_RATING = {"+": 1, "-": -1}


def parse(line: int, obj: Any) -> ImportRecord:
    record = Fields(obj, line)
    text = record.text("input")
    labelled = record.text("label")
    segments = text.split(TAG)
    if len(segments) < 2:
        raise record.error("input", f"has no step tag '{TAG}'")
    if segments[-1].strip():
        raise record.error("input", f"has text after the last step tag '{TAG}'")
    record.check_count("input", segments[:-1], "steps", limits.MAX_STEPS)
    ratings = _ratings(record, segments, labelled)
    problem, sep, first_step = segments[0].partition("Step 1:")
    if not sep or not problem.strip():
        raise record.error("input", "has no problem text before 'Step 1:'")
    step_texts = ["Step 1:" + first_step, *segments[1:-1]]
    steps = [
        StepRecord(position=i, text=_STEP_PREFIX.sub("", t.strip()), rating=ratings[i])
        for i, t in enumerate(step_texts)
    ]
    return ImportRecord(
        line=line,
        problem=ProblemRecord(text=problem.strip()),
        trace=TraceRecord(
            external_id="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
            steps=steps,
            grader=GRADER,
            final_answer=extract_answer(steps[-1].text),
            metadata={"task": record.string("task", required=False) or ""},
        ),
        key_field="input",
    )


def _ratings(record: Fields, segments: list[str], labelled: str) -> list[int]:
    ratings = []
    at = 0
    for index, segment in enumerate(segments[:-1]):
        if labelled[at : at + len(segment)] != segment:
            raise record.error("label", f"differs from input before step tag {index + 1}")
        at += len(segment)
        mark = labelled[at : at + 1]
        if mark not in _RATING:
            raise record.error(
                "label", f"expected '+' or '-' at step tag {index + 1}, got {mark!r}"
            )
        ratings.append(_RATING[mark])
        at += 1
    if labelled[at:] != segments[-1]:
        raise record.error("label", "differs from input after the last step tag")
    return ratings


def export_row(view: TraceView, labels: list[bool]) -> dict[str, Any]:
    """The first len(labels) path steps, each marked '+' (good) or '-' (bad), written as the
    scorer reads them (algorithms.prm_inputs)."""
    problem = view.trace.problem.text
    texts = [step.text for step in view.path[: len(labels)]]
    return {
        "input": math_shepherd_input(problem, texts, tag=TAG),
        "label": math_shepherd_input(problem, texts, marks=["+" if g else "-" for g in labels]),
        "task": view.trace.metadata.get("task", ""),
    }
