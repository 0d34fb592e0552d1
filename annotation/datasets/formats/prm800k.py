"""PRM800K raw label rows (both phases), kept field by field.

Alternative completions at a step become sibling nodes; the chosen (or human-written) one
continues the path. The labeler becomes the grade source of the ratings.
"""

import hashlib
from collections import defaultdict
from typing import Any

import msgspec

from annotation.datasets import limits
from annotation.datasets.errors import RecordError
from annotation.datasets.fields import Fields, shown
from annotation.datasets.records import ImportRecord, ProblemRecord, StepRecord, TraceRecord
from annotation.problems.models import FinishReason, Origin, Trace
from annotation.problems.selectors import StepView, TraceView

NAME = "prm800k"
_COMPLETION_KEYS = ("text", "rating", "flagged")
_HUMAN_KEYS = ("text", "rating", "flagged")
_FINISH_REASONS = frozenset(FinishReason.values)
_LABEL_COLUMNS = ("steps", "total_time", "finish_reason")  # kept as nodes and trace columns
_GRADER_PREFIX = "prm800k:"
_MISSING = object()


def parse(line: int, obj: Any) -> ImportRecord:
    row = Fields(obj, line)
    labeler = row.string("labeler", max_length=limits.SOURCE_NAME_LENGTH - len(_GRADER_PREFIX))
    row.timestamp("timestamp")
    row.integer("generation", nullable=True)
    row.boolean("is_quality_control_question")
    row.boolean("is_initial_screening_question")
    question = row.child("question")
    label = row.child("label")
    assert question is not None and label is not None
    finish_reason = label.string("finish_reason")
    if finish_reason not in _FINISH_REASONS:
        raise label.error("finish_reason", f"unknown finish reason {shown(finish_reason)}")
    steps = label.array("steps")
    assert steps is not None
    label.check_count("steps", steps, "steps", limits.MAX_STEPS)
    step_records = _well_formed_steps(steps)
    if step_records is None:  # something is off: read field by field, to say what
        step_records = [step for index in range(len(steps)) for step in _parse_step(label, index)]
    _check_path_is_connected(label, step_records, len(steps))
    if finish_reason == FinishReason.FOUND_ERROR and all(s.rating != -1 for s in step_records):
        raise label.error("finish_reason", "is found_error, but no step is rated -1")
    time_spent_ms = label.integer(
        "total_time", required=False, nullable=True, bounds=limits.TIME_SPENT_MS
    )
    path = [s for s in step_records if s.on_path]
    # Everything not modelled by columns or nodes is kept verbatim to rebuild the row.
    kept = {
        **obj,
        "question": {k: v for k, v in obj["question"].items() if k != "problem"},
        "label": {
            **{k: v for k, v in obj["label"].items() if k not in _LABEL_COLUMNS},
            "steps": len(steps),
        },
    }
    return ImportRecord(
        line=line,
        problem=ProblemRecord(
            text=question.text("problem"),
            answer=question.string("ground_truth_answer", required=False, nullable=True),
            solution=question.string("ground_truth_solution", required=False, nullable=True),
        ),
        trace=TraceRecord(
            external_id="sha256:" + hashlib.sha256(_canonical(obj)).hexdigest(),
            steps=step_records,
            grader=f"{_GRADER_PREFIX}{labeler}",
            final_answer=answer_of_last_step(path[-1].text) if path else None,
            finish_reason=finish_reason,
            time_spent_ms=time_spent_ms,
            metadata={"prm800k": kept},
        ),
    )


_CANONICAL = msgspec.json.Encoder(order="sorted")


def _canonical(obj: Any) -> bytes:
    return _CANONICAL.encode(obj)


def _parse_step(label: Fields, index: int) -> list[StepRecord]:
    step = label.item("steps", index)
    completions = step.array("completions", nullable=True)
    if completions:
        step.check_count("completions", completions, "completions", limits.MAX_OPTIONS)
    chosen = step.integer("chosen_completion", required=False, nullable=True)
    human = step.child("human_completion", required=False, nullable=True)
    if chosen is not None and not 0 <= chosen < len(completions or []):
        raise step.error(
            "chosen_completion",
            f"{chosen} is out of range for {len(completions or [])} completions",
        )
    if chosen is not None and human is not None:
        raise step.error("human_completion", "is set although a completion was chosen")
    records = []
    for option in range(len(completions or [])):
        completion = step.item("completions", option)
        records.append(
            _step_record(completion, index, option, on_path=option == chosen, keys=_COMPLETION_KEYS)
        )
    if human is not None:
        records.append(_step_record(human, index, None, on_path=True, keys=_HUMAN_KEYS))
    return records


def _step_record(
    fields: Fields, position: int, option: int | None, *, on_path: bool, keys: tuple[str, ...]
) -> StepRecord:
    rating = fields.rating("rating")
    flagged = fields.boolean("flagged", required=False, nullable=True)
    text = fields.string("text")
    assert text is not None
    return _step(fields.obj, position, option, on_path, keys, text, rating, flagged)


def _step(
    obj: dict[str, Any],
    position: int,
    option: int | None,
    on_path: bool,
    keys: tuple[str, ...],
    text: str,
    rating: int | None,
    flagged: bool | None,
) -> StepRecord:
    """A completion's step, its fields read (`keys`): the others are kept with it."""
    extra = {k: v for k, v in obj.items() if k not in keys} if obj.keys() - keys else {}
    if rating is None:
        # No grade row will hold these: keep them with the step.
        extra["rating"] = None
        if "flagged" in obj:
            extra["flagged"] = flagged
    elif "flagged" not in obj:
        extra["no_flagged"] = True
    return StepRecord(position, text, option, on_path, rating, flagged, extra or None)


def _well_formed_steps(steps: list[Any]) -> list[StepRecord] | None:
    """The records of the steps if every field is as `_parse_step` reads it in a well-formed
    file, else None (then `_parse_step` finds what is wrong). The same records, with a few
    type checks instead of a field reader per field: the steps are nine tenths of a row."""
    records = []
    for position, step in enumerate(steps):
        if type(step) is not dict:
            return None
        completions = step.get("completions", _MISSING)
        chosen = step.get("chosen_completion")
        human = step.get("human_completion")
        if completions is None:
            completions = []
        elif type(completions) is not list or len(completions) > limits.MAX_OPTIONS:
            return None
        if chosen is not None and (type(chosen) is not int or not 0 <= chosen < len(completions)):
            return None
        if human is not None and (type(human) is not dict or chosen is not None):
            return None
        options: list[tuple[Any, int | None, bool, tuple[str, ...]]] = [
            (completion, option, option == chosen, _COMPLETION_KEYS)
            for option, completion in enumerate(completions)
        ]
        if human is not None:
            options.append((human, None, True, _HUMAN_KEYS))
        for obj, option, on_path, keys in options:
            if type(obj) is not dict:
                return None
            rating = obj.get("rating", _MISSING)
            flagged = obj.get("flagged")
            text = obj.get("text")
            if (
                not (rating is None or (type(rating) is int and -1 <= rating <= 1))
                or not (flagged is None or type(flagged) is bool)
                or type(text) is not str
            ):
                return None
            records.append(_step(obj, position, option, on_path, keys, text, rating, flagged))
    return records


def _check_path_is_connected(label: Fields, steps: list[StepRecord], count: int) -> None:
    on_path = {s.position for s in steps if s.on_path}
    for position in range(count - 1):
        if position not in on_path and any(s.position > position for s in steps):
            raise RecordError(
                label.line,
                f"label.steps[{position}]",
                "no chosen or human completion, but later steps follow",
            )


def answer_of_last_step(text: str) -> str | None:
    """PRM800K solutions end with a step that says '# Answer' and then the answer."""
    _, sep, answer = text.rpartition("# Answer")
    return (answer.strip() or None) if sep else None


def export_row(view: TraceView) -> dict[str, Any]:
    """The PRM800K row of a view: an imported row as it came (its labeler's grades), or the
    row of an annotator's work (theirs: their grades and choices, their finish reason and time,
    whether the item was a QC or screening question), or a frame for other native traces."""
    trace = view.trace
    kept = trace.metadata.get("prm800k")
    if view.labeling is not None:
        kept = _annotator_row_frame(view, kept)
    elif kept is None:
        kept = _native_row_frame(view)
    row = _copied(kept)
    row["question"] = {"problem": trace.problem.text, **row["question"]}
    label = row["label"]
    n_steps = max(label.pop("steps"), view.n_positions)
    native, by_people = trace.origin != Origin.IMPORTED, _by_people(trace)
    at: dict[int, list[StepView]] = defaultdict(list)
    for step in view.steps:
        at[step.position].append(step)
    label["steps"] = [
        _export_step(at.get(position, []), native=native, by_people=by_people)
        for position in range(n_steps)
    ]
    work = view.labeling or {}
    label["total_time"] = work["time_spent_ms"] if work else trace.time_spent_ms
    label["finish_reason"] = work["finish_reason"] if work else trace.finish_reason
    return row


def _copied(value: Any) -> Any:
    """A copy of JSON data (dicts, lists and scalars), ten times faster than deepcopy."""
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    if type(value) is list:
        return [_copied(item) for item in value]
    return value


def _by_people(trace: Trace) -> bool:
    """Whether a step with no option on the trace's path was written by a person: on an
    imported row (PRM800K's human completion), a thought record or a human solution."""
    return trace.origin in (Origin.IMPORTED, Origin.THOUGHT_RECORD, Origin.HUMAN_SOLUTION)


def _export_step(steps: list[StepView], *, native: bool, by_people: bool) -> dict[str, Any]:
    """PRM800K's step: the completions offered (with their ratings), the chosen one, and the
    human completion only where a person wrote the step. A model's step with no alternatives
    is the one completion, chosen (as PRM800K's phase 2 pre-generated steps are)."""
    human = next((s for s in steps if s.option is None and _written_by_person(s, by_people)), None)
    completions: list[dict[str, Any]] = []
    chosen = None  # the first completion on the path, by its place among the completions
    for step in steps:
        if step is human:
            continue
        if chosen is None and step.on_path:
            chosen = len(completions)
        completions.append(_export_completion(step, _COMPLETION_KEYS, native=native))
    return {
        "completions": completions or None,
        "human_completion": (
            _export_completion(human, _HUMAN_KEYS, native=native) if human else None
        ),
        "chosen_completion": chosen,
    }


def _written_by_person(step: StepView, by_people: bool) -> bool:
    return by_people or (step.extra or {}).get("source") == "human"


def _export_completion(step: StepView, keys: tuple[str, ...], *, native: bool) -> dict[str, Any]:
    """{text, rating, flagged, ...}: the grade's rating and flag win over what an imported
    step kept for a completion that had none; a native step always has both keys."""
    extra = dict(step.extra or {})
    no_flagged = extra.pop("no_flagged", False)
    out: dict[str, Any] = {"text": step.text}
    if step.grade is not None:
        out["rating"] = step.grade.rating
        if not no_flagged:
            out["flagged"] = step.grade.flagged
    elif native:
        out["rating"] = None
        out["flagged"] = None
    for key, value in extra.items():
        if key not in out:
            out[key] = value
    return out


def _native_row_frame(view: TraceView) -> dict[str, Any]:
    """The parts of a row for a trace graded in Stepwise rather than imported."""
    trace = view.trace
    problem = trace.problem
    return {
        "labeler": view.grader_name,
        "timestamp": trace.created_at.isoformat(),
        "generation": None,
        "is_quality_control_question": False,
        "is_initial_screening_question": False,
        "question": {"ground_truth_answer": problem.answer},
        "label": {"steps": 0},
    }


def _annotator_row_frame(view: TraceView, kept: dict[str, Any] | None) -> dict[str, Any]:
    """An annotator's row: they are its labeler, their submit its timestamp, the item's
    purpose its QC and screening flags; the question (and the model generation whose steps
    were offered) come from the PRM800K row the trace is, or the annotator's path was made
    from."""
    trace = view.trace
    source = trace.source_trace
    origin_row = kept or (source.metadata.get("prm800k") if source is not None else None) or {}
    work = view.labeling or {}
    submitted = work.get("submitted_at") or trace.created_at
    question = dict(origin_row.get("question") or {})
    question.setdefault("ground_truth_answer", trace.problem.answer)
    return {
        "labeler": view.grader_name,
        "timestamp": submitted.isoformat(),
        "generation": origin_row.get("generation"),
        "is_quality_control_question": work.get("purpose") == "qc",
        "is_initial_screening_question": work.get("purpose") == "screening",
        "question": question,
        "label": {"steps": (kept or {}).get("label", {}).get("steps", 0)},
    }
