"""Export formats: a row function per format over a TraceView, plus the format's defaults.

Formats that carry labels per step use selection.step_labels, so the 0-rating mapping, the
grade choice, the agreement threshold and what happens after the first error are the same
for every format. A row function returns LeftOut(reason) for a trace it cannot export (counted
by reason in the manifest's left_out, see left_out.py).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from algorithms.pairs import sample_dpo_pairs
from annotation.datasets.export.left_out import LeftOut
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.selection import step_labels, unlabelled_reason
from annotation.datasets.formats import gsm8k, math, math_shepherd, prm800k, processbench
from annotation.problems.models import Origin, Problem
from annotation.problems.selectors import TraceView

Row = dict[str, Any]
TraceRow = Callable[[TraceView, ExportOptions], Row | LeftOut | None]
OPENR_STEP_TAG = "\n\n\n\n\n"  # MATH-APS ends each step of `process` with this tag
QWEN_STEP_SEPARATOR = "<extra_0>"
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
# Solutions that go straight to the answer, versus journeys with their detours.
SHORTCUT_ORIGINS: tuple[str, ...] = tuple(
    o.value for o in (Origin.IMPORTED, Origin.HUMAN_SOLUTION, Origin.MODEL_SAMPLE, Origin.TREE)
)
JOURNEY_ORIGINS: tuple[str, ...] = (Origin.LONG_THOUGHT.value, Origin.EXPANSION.value)


@dataclass(frozen=True)
class TraceFormat:
    """One row (or none) per trace."""

    row: TraceRow
    origins: tuple[str, ...] | None = None  # None: every origin
    after_error: str = "drop"


@dataclass(frozen=True)
class GroupFormat:
    """Rows made from all the traces of one problem (DPO pairs)."""

    rows: Callable[[Problem, list[TraceView], ExportOptions], Iterator[Row]]
    origins: tuple[str, ...] | None = None
    after_error: str = "keep"


@dataclass(frozen=True)
class ProblemFormat:
    """One row per problem (the problem sets themselves)."""

    row: Callable[[Problem], Row]
    origins: tuple[str, ...] | None = None
    after_error: str = "keep"


ExportFormat = TraceFormat | GroupFormat | ProblemFormat


# PRM formats ----------------------------------------------------------------------------


def _labelled(view: TraceView, options: ExportOptions) -> tuple[list[str], list[bool]] | LeftOut:
    labels = step_labels(view, options)
    if labels is None:
        return LeftOut(unlabelled_reason(view, options))
    return [step.text for step in view.path[: len(labels)]], labels


def trl_stepwise_row(view: TraceView, options: ExportOptions) -> Row | LeftOut:
    """TRL's stepwise supervision: {prompt, completions, labels}."""
    labelled = _labelled(view, options)
    if isinstance(labelled, LeftOut):
        return labelled
    texts, labels = labelled
    return {"prompt": view.trace.problem.text, "completions": texts, "labels": labels}


def openr_row(view: TraceView, options: ExportOptions) -> Row | LeftOut:
    """OpenR (MATH-APS): {question, process, label}, each step ending with the step tag."""
    labelled = _labelled(view, options)
    if isinstance(labelled, LeftOut):
        return labelled
    texts, labels = labelled
    return {
        "question": view.trace.problem.text,
        "process": "".join(text + OPENR_STEP_TAG for text in texts),
        "label": ["+" if good else "-" for good in labels],
    }


def qwen_prm_row(view: TraceView, options: ExportOptions) -> Row | LeftOut:
    """Qwen2.5-Math-PRM: chat messages, the assistant turn's steps each followed by <extra_0>;
    `labels` holds 1 (good) or 0 (bad) per separator."""
    labelled = _labelled(view, options)
    if isinstance(labelled, LeftOut):
        return labelled
    texts, labels = labelled
    return {
        "messages": [
            {"role": "system", "content": QWEN_SYSTEM},
            {"role": "user", "content": view.trace.problem.text},
            {"role": "assistant", "content": "".join(t + QWEN_STEP_SEPARATOR for t in texts)},
        ],
        "labels": [int(good) for good in labels],
    }


def math_shepherd_row(view: TraceView, options: ExportOptions) -> Row | LeftOut:
    labels = step_labels(view, options)
    if labels is None:
        return LeftOut(unlabelled_reason(view, options))
    return math_shepherd.export_row(view, labels)


def prm800k_row(view: TraceView, options: ExportOptions) -> Row | LeftOut:
    """Imported PRM800K rows round-trip as they are; a native trace nobody rated (no labeler,
    or no rating on any step: a model sample, an ungraded record) is left out unless
    keep_unlabeled, since a label row without labels trains nothing."""
    if not options.keep_unlabeled and "prm800k" not in view.trace.metadata:
        rated = any(s.grade is not None and s.grade.rating is not None for s in view.steps)
        if view.grader_name is None or not rated:
            return LeftOut("no_labeler_or_ratings")
    return prm800k.export_row(view)


def processbench_row(view: TraceView, options: ExportOptions) -> Row | None:
    return processbench.export_row(view)


# SFT and DPO ----------------------------------------------------------------------------


def solution_text(view: TraceView) -> str | None:
    """The path's steps joined by blank lines, ending with the final answer (boxed) when the
    last step does not already box it; None when there is no final answer."""
    answer = view.trace.final_answer or (
        view.trace.problem.answer if view.trace.is_correct else None
    )
    texts = [step.text for step in view.path]
    if answer is None or not texts:
        return None
    boxed = f"\\boxed{{{answer}}}"
    if boxed not in texts[-1]:
        texts.append(f"The final answer is ${boxed}$.")
    return "\n\n".join(texts)


def _chat(problem: Problem, text: str) -> Row:
    return {
        "messages": [
            {"role": "user", "content": problem.text},
            {"role": "assistant", "content": text},
        ]
    }


def sft_shortcut_row(view: TraceView, options: ExportOptions) -> Row | LeftOut:
    """Correct solution paths only (is_correct true), as chat messages."""
    if view.trace.is_correct is not True:
        return LeftOut("not_correct")
    text = solution_text(view)
    return _chat(view.trace.problem, text) if text is not None else LeftOut("no_final_answer")


def sft_journey_row(view: TraceView, options: ExportOptions) -> Row | LeftOut:
    """Long thoughts and expansions with every attempt, reflection and backtrack on their path,
    ending with the final answer; traces known to be wrong are left out."""
    if view.trace.is_correct is False:
        return LeftOut("wrong_answer")
    text = solution_text(view)
    return _chat(view.trace.problem, text) if text is not None else LeftOut("no_final_answer")


def dpo_rows(problem: Problem, views: list[TraceView], options: ExportOptions) -> Iterator[Row]:
    """k random (correct, incorrect) pairs of one problem's traces, seeded per problem."""
    texts = [(view.trace.is_correct, solution_text(view)) for view in views]
    correct = [text for ok, text in texts if ok is True and text is not None]
    incorrect = [text for ok, text in texts if ok is False and text is not None]
    seed = hash_seed(options.seed, problem.external_id)
    for chosen, rejected in sample_dpo_pairs(
        correct, incorrect, k=options.pairs_per_problem, seed=seed
    ):
        yield {
            "prompt": [{"role": "user", "content": problem.text}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }


def hash_seed(seed: int, key: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


EXPORT_FORMATS: dict[str, ExportFormat] = {
    prm800k.NAME: TraceFormat(prm800k_row, after_error="keep"),
    processbench.NAME: TraceFormat(processbench_row, after_error="keep"),
    math_shepherd.NAME: TraceFormat(math_shepherd_row, after_error="keep"),
    "trl-stepwise": TraceFormat(trl_stepwise_row),
    "openr": TraceFormat(openr_row),
    "qwen-prm": TraceFormat(qwen_prm_row),
    "sft-shortcut": TraceFormat(sft_shortcut_row, origins=SHORTCUT_ORIGINS),
    "sft-journey": TraceFormat(sft_journey_row, origins=JOURNEY_ORIGINS),
    "dpo": GroupFormat(dpo_rows, origins=(Origin.MODEL_SAMPLE.value,)),
    math.NAME: ProblemFormat(math.export_row),
    gsm8k.NAME: ProblemFormat(gsm8k.export_row),
}

# The formats whose rows follow selection.step_labels, so after_error cuts their rows.
LABELLED_ROWS: frozenset[TraceRow] = frozenset(
    {trl_stepwise_row, openr_row, qwen_prm_row, math_shepherd_row}
)
