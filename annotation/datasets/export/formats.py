"""Export formats: a row function per format over a TraceView, plus the format's defaults.

Formats that carry labels per step render the labelled path (step_label_formats.py), so
the 0-rating mapping, the grade choice, the agreement threshold, what happens after the first
error and who may teach the model are the same for every format. A row function returns
Skip(reason) for a trace it cannot export, and a group format tallies the traces and
problems it leaves out: both are counted by reason in the manifest's left_out (see
left_out.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

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
from annotation.datasets.export.prm800k_rows import native_row
from annotation.datasets.export.step_label_formats import (
    Rows,
    ineligible_reason,
    math_shepherd_rows,
    openr_rows,
    processbench_rows,
    qwen_prm_rows,
    record_of,
    trl_stepwise_rows,
)
from annotation.datasets.formats import gsm8k, math, math_shepherd, prm800k, processbench
from annotation.problems.models import Origin, Problem
from annotation.problems.selectors import TraceView

if TYPE_CHECKING:  # the options check themselves against this module's table
    from annotation.datasets.export.options import ExportOptions

Row = dict[str, Any]
TraceRow = Callable[[TraceView, "ExportOptions"], Row | Rows | Skip]
Counts = Counter[str]


# What a trace needs to become a row of a format, said when an export has no rows.
NEEDS_GRADES = "a usable grade on every exported step (see the grades option)"


@dataclass(frozen=True)
class TraceFormat:
    """One row (or none) per trace."""

    row: TraceRow
    origins: tuple[str, ...] | None = None  # None: every origin
    after_error: str = "drop"
    needs: str = NEEDS_GRADES
    soft_labels: bool = False  # each step's score may be written as a float label


@dataclass(frozen=True)
class GroupFormat:
    """Rows made from all the traces of one problem (DPO pairs); the traces and problems it
    leaves out are tallied in ``left_out`` by reason, other figures in ``counts``."""

    rows: Callable[[Problem, list[TraceView], ExportOptions, Counts, Tally], Iterator[Row]]
    origins: tuple[str, ...] | None = None
    after_error: str = "keep"
    needs: str = ""
    soft_labels: bool = False


@dataclass(frozen=True)
class ProblemFormat:
    """One row per problem (the problem sets themselves)."""

    row: Callable[[Problem], Row]
    origins: tuple[str, ...] | None = None
    after_error: str = "keep"
    needs: str = "problems in the project"
    soft_labels: bool = False


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
    soft_labels: bool = False


ExportFormat = TraceFormat | GroupFormat | ProblemFormat | PairedFormat


# PRM formats: renderings of the labelled path (step_label_formats.py) ------------------


def prm800k_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    """Imported PRM800K rows round-trip as they are; a native trace nobody rated (no labeler,
    or no rating on any step: a model sample, an ungraded record) is left out unless
    keep_unlabeled, since a label row without labels trains nothing. Labels that may not
    teach a model are left out as in every step-label format, except a gold item's: the
    row's own flags (is_quality_control_question, is_initial_screening_question) say it."""
    if (reason := ineligible_reason(view, replace(options, keep_gold_items=True))) is not None:
        return Skip(reason)
    if not options.keep_unlabeled and "prm800k" not in view.trace.metadata:
        rated = any(s.grade is not None and s.grade.rating is not None for s in view.steps)
        if view.grader_name is None or not rated:
            return Skip("no_labeler_or_ratings")
    if view.labeling is not None or "prm800k" not in view.trace.metadata:
        return native_row(view, record_of(view, options))
    return prm800k.export_row(view)


EXPORT_FORMATS: dict[str, ExportFormat] = {
    prm800k.NAME: TraceFormat(prm800k_row, after_error="keep"),
    processbench.NAME: TraceFormat(
        processbench_rows, after_error="keep", needs="every step before the first error graded"
    ),
    math_shepherd.NAME: TraceFormat(math_shepherd_rows, after_error="keep", soft_labels=True),
    "trl-stepwise": TraceFormat(trl_stepwise_rows, soft_labels=True),
    "openr": TraceFormat(openr_rows),
    "qwen-prm": TraceFormat(qwen_prm_rows),
    # The journey formats (O1-Journey) live in journey_formats.py.
    "sft-shortcut": TraceFormat(sft_shortcut_row, origins=SHORTCUT_ORIGINS, needs=SHORTCUT_NEEDS),
    "sft-journey": TraceFormat(sft_journey_row, origins=JOURNEY_ORIGINS, needs=JOURNEY_NEEDS),
    "sft-paired": PairedFormat("sft-shortcut", "sft-journey", origins=JOURNEY_ORIGINS),
    "dpo": GroupFormat(dpo_rows, origins=(Origin.MODEL_SAMPLE.value,), needs=DPO_NEEDS),
    math.NAME: ProblemFormat(math.export_row),
    gsm8k.NAME: ProblemFormat(gsm8k.export_row),
}

# The formats that render the labelled path (step_label_formats.py).
STEP_LABEL_FORMATS: frozenset[str] = frozenset(
    {prm800k.NAME, processbench.NAME, math_shepherd.NAME, "trl-stepwise", "openr", "qwen-prm"}
)
