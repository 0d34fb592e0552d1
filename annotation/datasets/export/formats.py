"""Export formats: a row function per format over a TraceView, plus the format's defaults.

Formats that carry labels per step use selection.step_labels, so the 0-rating mapping, the
grade choice, the agreement threshold and what happens after the first error are the same
for every format. A row function returns Skip(reason) for a trace it cannot export, and a
group format tallies the traces and problems it leaves out: both are counted by reason in the
manifest's left_out (see left_out.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from algorithms.prm_inputs import qwen_prm_messages
from annotation.datasets.export.journey_formats import (
    DPO_NEEDS,
    JOURNEY_NEEDS,
    JOURNEY_ORIGINS,
    SHORTCUT_NEEDS,
    SHORTCUT_ORIGINS,
    dpo_rows,
    sft_journey_row,
    sft_shortcut_row,
)
from annotation.datasets.export.left_out import Skip, Tally
from annotation.datasets.export.selection import soft_step_labels, step_labels, unlabelled_reason
from annotation.datasets.formats import gsm8k, math, math_shepherd, prm800k, processbench
from annotation.problems.models import Origin, Problem
from annotation.problems.selectors import TraceView

if TYPE_CHECKING:  # the options check themselves against this module's table
    from annotation.datasets.export.options import ExportOptions

Row = dict[str, Any]
TraceRow = Callable[[TraceView, "ExportOptions"], Row | Skip]
Counts = Counter[str]
OPENR_STEP_TAG = "\n\n\n\n\n"  # MATH-APS ends each step of `process` with this tag


# What a trace needs to become a row of a format, said when an export has no rows.
NEEDS_GRADES = "a usable grade on every exported step (see the grades option)"


@dataclass(frozen=True)
class TraceFormat:
    """One row (or none) per trace."""

    row: TraceRow
    origins: tuple[str, ...] | None = None  # None: every origin
    after_error: str = "drop"
    needs: str = NEEDS_GRADES


@dataclass(frozen=True)
class GroupFormat:
    """Rows made from all the traces of one problem (DPO pairs); the traces and problems it
    leaves out are tallied in ``left_out`` by reason, other figures in ``counts``."""

    rows: Callable[[Problem, list[TraceView], ExportOptions, Counts, Tally], Iterator[Row]]
    origins: tuple[str, ...] | None = None
    after_error: str = "keep"
    needs: str = ""


@dataclass(frozen=True)
class ProblemFormat:
    """One row per problem (the problem sets themselves)."""

    row: Callable[[Problem], Row]
    origins: tuple[str, ...] | None = None
    after_error: str = "keep"
    needs: str = "problems in the project"


@dataclass(frozen=True)
class PairedFormat:
    """Two trace formats written for exactly the same problems and split (the report's
    shortcut vs journey comparison): per problem, as many rows of each as both have, matched
    by correct path when both come from one long-thought job. The options' origins and kinds
    choose the second format's traces; the first keeps its own origins."""

    first: str
    second: str
    origins: tuple[str, ...] | None = None
    after_error: str = "keep"
    needs: str = "a row of both formats for the same problem"


ExportFormat = TraceFormat | GroupFormat | ProblemFormat | PairedFormat


# PRM formats ----------------------------------------------------------------------------


def _labelled(view: TraceView, options: ExportOptions) -> tuple[list[str], list[bool]] | Skip:
    labels = step_labels(view, options)
    if labels is None:
        return Skip(unlabelled_reason(view, options))
    return [step.text for step in view.path[: len(labels)]], labels


def trl_stepwise_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    """TRL's stepwise supervision: {prompt, completions, labels}; with soft_labels each label
    is P(good) in [0, 1]."""
    labelled = _labelled(view, options)
    if isinstance(labelled, Skip):
        return labelled
    texts, labels = labelled
    soft = soft_step_labels(view, options) if options.soft_labels else None
    return {
        "prompt": view.trace.problem.text,
        "completions": texts,
        "labels": soft if soft is not None else labels,
    }


def openr_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    """OpenR (MATH-APS): {question, process, label}, each step ending with the step tag."""
    labelled = _labelled(view, options)
    if isinstance(labelled, Skip):
        return labelled
    texts, labels = labelled
    return {
        "question": view.trace.problem.text,
        "process": "".join(text + OPENR_STEP_TAG for text in texts),
        "label": ["+" if good else "-" for good in labels],
    }


def qwen_prm_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    """Qwen2.5-Math-PRM: chat messages, the assistant turn's steps each followed by <extra_0>;
    `labels` holds 1 (good) or 0 (bad) per separator."""
    labelled = _labelled(view, options)
    if isinstance(labelled, Skip):
        return labelled
    texts, labels = labelled
    return {
        "messages": qwen_prm_messages(view.trace.problem.text, texts),
        "labels": [int(good) for good in labels],
    }


def math_shepherd_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    labels = step_labels(view, options)
    if labels is None:
        return Skip(unlabelled_reason(view, options))
    row = math_shepherd.export_row(view, labels)
    if options.soft_labels:
        row["soft_labels"] = soft_step_labels(view, options)
    return row


def prm800k_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    """Imported PRM800K rows round-trip as they are; a native trace nobody rated (no labeler,
    or no rating on any step: a model sample, an ungraded record) is left out unless
    keep_unlabeled, since a label row without labels trains nothing."""
    if not options.keep_unlabeled and "prm800k" not in view.trace.metadata:
        rated = any(s.grade is not None and s.grade.rating is not None for s in view.steps)
        if view.grader_name is None or not rated:
            return Skip("no_labeler_or_ratings")
    return prm800k.export_row(view)


def processbench_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    return processbench.export_row(view)


EXPORT_FORMATS: dict[str, ExportFormat] = {
    prm800k.NAME: TraceFormat(prm800k_row, after_error="keep"),
    processbench.NAME: TraceFormat(processbench_row, after_error="keep"),
    math_shepherd.NAME: TraceFormat(math_shepherd_row, after_error="keep"),
    "trl-stepwise": TraceFormat(trl_stepwise_row),
    "openr": TraceFormat(openr_row),
    "qwen-prm": TraceFormat(qwen_prm_row),
    # The journey formats (O1-Journey) live in journey_formats.py.
    "sft-shortcut": TraceFormat(sft_shortcut_row, origins=SHORTCUT_ORIGINS, needs=SHORTCUT_NEEDS),
    "sft-journey": TraceFormat(sft_journey_row, origins=JOURNEY_ORIGINS, needs=JOURNEY_NEEDS),
    "sft-paired": PairedFormat("sft-shortcut", "sft-journey", origins=JOURNEY_ORIGINS),
    "dpo": GroupFormat(dpo_rows, origins=(Origin.MODEL_SAMPLE.value,), needs=DPO_NEEDS),
    math.NAME: ProblemFormat(math.export_row),
    gsm8k.NAME: ProblemFormat(gsm8k.export_row),
}

# The formats whose rows follow selection.step_labels, so after_error cuts their rows.
LABELLED_ROWS: frozenset[TraceRow] = frozenset(
    {trl_stepwise_row, openr_row, qwen_prm_row, math_shepherd_row}
)
