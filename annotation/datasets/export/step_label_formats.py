"""The step-label formats: each a rendering of the labelled path (grading/labelled_path.py).

A format reads the record and nothing else, so a step's label, the first error, what "fully
graded" means and who may teach the model are one rule for all of them. A record a format
cannot use is left out (Skip) with a named reason; what a format cuts from a record it does
write (steps after the first error, unrated alternatives, alternatives it cannot express)
is named in Rows.partly and tallied by the pipeline.

Rated alternatives become rows of their own in the stepwise formats (the path before the
alternative, then the alternative), as the public PRM800K conversions do, unless
chosen_path_only; the chosen path's row comes after them, as TRL's conversion writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from algorithms.prm_inputs import MATH_SHEPHERD_TAG, math_shepherd_input, qwen_prm_messages
from annotation.datasets.export.left_out import Skip
from annotation.grading.labelled_path import (
    BAD,
    Alternative,
    Label,
    LabelledPath,
    LabelRules,
    labelled_path,
)
from annotation.grading.selectors import Eligibility
from annotation.problems.selectors import TraceView

if TYPE_CHECKING:  # the options check themselves against the formats' table
    from annotation.datasets.export.options import ExportOptions

Row = dict[str, Any]
Steps = list[tuple[str, Label]]  # one row's steps: text and label
OPENR_STEP_TAG = "\n\n\n\n\n"  # MATH-APS ends each step of `process` with this tag


@dataclass(frozen=True)
class Rows:
    """What a step-label format writes for one record: its rows, and the reasons (left_out
    keys) for anything of the record it did not carry."""

    rows: list[Row]
    partly: tuple[str, ...] = field(default=())


def record_of(view: TraceView, options: ExportOptions) -> LabelledPath:
    rules = LabelRules(
        score_threshold=options.score_threshold,
        min_agreement=options.min_agreement,
        own_steps_good=options.grades == "trace",
    )
    return labelled_path(view, rules)


def ineligible_reason(view: TraceView, options: ExportOptions) -> str | None:
    """Why the view's labels may not teach a model (unless the options keep them), or None."""
    return _not_kept(view.eligibility, options)


def _not_kept(eligibility: Eligibility, options: ExportOptions) -> str | None:
    kept = {
        "gold_item": options.keep_gold_items,
        "screening_failed": options.keep_failed_screening,
        "review_rejected": options.review == "all",
    }
    return next((reason for reason in eligibility.reasons if not kept[reason]), None)


def left_out_reason(record: LabelledPath, options: ExportOptions) -> str | None:
    """Why no format writes the record, or None: not eligible (unless the options keep it),
    or not fully graded."""
    if (reason := _not_kept(record.eligibility, options)) is not None:
        return reason
    if not record.fully_graded:
        return "low_agreement" if record.missing == "low_agreement" else "not_fully_graded"
    return None


def carried(steps: Steps, keep_after_error: bool) -> Steps:
    """The steps a row carries: up to and including the first error (with keep_after_error,
    on past it while the steps carry labels)."""
    out: Steps = []
    for text, label in steps:
        if label.value is None:
            break
        out.append((text, label))
        if label.value == BAD and not keep_after_error:
            break
    return out


def step_rows(record: LabelledPath, options: ExportOptions) -> tuple[list[Steps], tuple[str, ...]]:
    """The rows' steps of a record that is written: each rated alternative with the path
    before it, then the chosen path (chosen_path_only: the chosen path alone, ending with the
    error step when the error is off the path)."""
    keep = options.resolved_after_error == "keep"
    partly: set[str] = set()
    rows: list[Steps] = []
    if options.chosen_path_only:
        main = record.labelled_steps()
        if _offered(record):
            partly.add("alternatives_not_asked")
    else:
        main = [(step.text, step.label) for step in record.steps]
        for index, alternatives in enumerate([s.alternatives for s in record.steps]):
            rows += _alternative_rows(main[:index], alternatives, keep, partly)
        rows += _alternative_rows(main, record.ending, keep, partly)
    path = carried(main, keep)
    if len(path) < len(main):
        partly.add("after_error")
    if path:
        rows.append(path)
    return rows, tuple(sorted(partly))


def _alternative_rows(
    before: Steps, alternatives: tuple[Alternative, ...], keep: bool, partly: set[str]
) -> list[Steps]:
    rows = []
    for alt in alternatives:
        if alt.label.value is None:
            partly.add("unrated_alternative")
            continue
        steps = [*before, (alt.text, alt.label)]
        if len(carried(steps, keep)) < len(steps):
            partly.add("alternative_after_error")
            continue
        rows.append(steps)
    return rows


def _offered(record: LabelledPath) -> bool:
    """Whether alternatives were offered beyond the error step a path may end with."""
    return any(step.alternatives for step in record.steps) or len(record.ending) > (
        record.error_ending is not None
    )


def binary(label: Label, options: ExportOptions) -> bool:
    """A ternary label as good (True) or bad: 0 counts as options.zero_is says."""
    assert label.value is not None
    return label.value > 0 or (label.value == 0 and options.zero_is == "good")


RowOf = Callable[[TraceView, LabelledPath, Steps, "ExportOptions"], Row]


def _stepwise(render: RowOf) -> Callable[[TraceView, ExportOptions], Rows | Skip]:
    """A row function of a stepwise format: a row per step sequence of the record."""

    def rows(view: TraceView, options: ExportOptions) -> Rows | Skip:
        record = record_of(view, options)
        if (reason := left_out_reason(record, options)) is not None:
            return Skip(reason)
        sequences, partly = step_rows(record, options)
        return Rows([render(view, record, steps, options) for steps in sequences], partly)

    rows.__doc__ = render.__doc__
    rows.__name__ = render.__name__
    return rows


def _texts(steps: Steps) -> list[str]:
    return [text for text, _ in steps]


def _trl(view: TraceView, record: LabelledPath, steps: Steps, options: ExportOptions) -> Row:
    """TRL's stepwise supervision: {prompt, completions, labels}; with soft_labels each label
    is P(good) in [0, 1]."""
    return {
        "prompt": view.trace.problem.text,
        "completions": _texts(steps),
        "labels": [
            label.soft if options.soft_labels else binary(label, options) for _, label in steps
        ],
    }


def _openr(view: TraceView, record: LabelledPath, steps: Steps, options: ExportOptions) -> Row:
    """OpenR (MATH-APS): {question, process, label}, each step ending with the step tag."""
    return {
        "question": view.trace.problem.text,
        "process": "".join(text + OPENR_STEP_TAG for text, _ in steps),
        "label": ["+" if binary(label, options) else "-" for _, label in steps],
    }


def _qwen(view: TraceView, record: LabelledPath, steps: Steps, options: ExportOptions) -> Row:
    """Qwen2.5-Math-PRM: chat messages, the assistant turn's steps each followed by <extra_0>;
    `labels` holds 1 (good) or 0 (bad) per separator."""
    return {
        "messages": qwen_prm_messages(view.trace.problem.text, _texts(steps)),
        "labels": [int(binary(label, options)) for _, label in steps],
    }


def _shepherd(view: TraceView, record: LabelledPath, steps: Steps, options: ExportOptions) -> Row:
    """Math-Shepherd: {input, label, task}, each step of `input` ending with the tag 'ки' and
    `label` the same text with each tag replaced by '+' or '-'."""
    problem, texts = view.trace.problem.text, _texts(steps)
    marks = ["+" if binary(label, options) else "-" for _, label in steps]
    row = {
        "input": math_shepherd_input(problem, texts, tag=MATH_SHEPHERD_TAG),
        "label": math_shepherd_input(problem, texts, marks=marks),
        "task": view.trace.metadata.get("task", ""),
    }
    if options.soft_labels:
        row["soft_labels"] = [label.soft for _, label in steps]
    return row


trl_stepwise_rows = _stepwise(_trl)
openr_rows = _stepwise(_openr)
qwen_prm_rows = _stepwise(_qwen)
math_shepherd_rows = _stepwise(_shepherd)


def processbench_rows(view: TraceView, options: ExportOptions) -> Rows | Skip:
    """ProcessBench: {id, generator, problem, steps, final_answer_correct, label}; `label` is
    the index of the first -1 among graded steps, -1 when every step is graded and none is
    -1. A path ending with an off-path error step (found_error) shows that step last, its
    final answer's correctness unknown (null). Alternatives are not expressible."""
    record = record_of(view, options)
    if (reason := left_out_reason(record, options)) is not None:
        return Skip(reason)
    trace = view.trace
    error = record.first_error
    row = {
        "id": trace.external_id or f"stepwise-{trace.pk}",
        "generator": trace.metadata.get("generator", ""),
        "problem": trace.problem.text,
        "steps": _texts(record.labelled_steps()),
        "final_answer_correct": trace.is_correct if record.error_ending is None else None,
        "label": error if error is not None else -1,
    }
    return Rows([row], ("alternatives_not_expressible",) if _offered(record) else ())
