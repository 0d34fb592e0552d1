"""The journey formats (O1-Journey): SFT on shortcuts and journeys, and DPO pairs.

What the report's rules ask of each, and what a row here says:

- ``sft-shortcut``: correct solutions only; with ``one_per_problem``, one per problem (the
  report's first SFT stage).
- ``sft-journey``: long thoughts that are journeys: a verified correct answer (a loop that ended
  unverified is left out unless ``include_unverified``), at least one trial (``no_trial``
  unless ``include_no_trial``), the fluent rewrites by default (drafts only when the ``kinds``
  option asks for ``draft``), a rewrite only when its fidelity check passed (unless
  ``include_unfaithful``). Expansions of human records keep their own rules: not known wrong.
- ``sft-paired``: each journey with its own shortcut (pipeline.iter_paired_rows).
- ``dpo``: chosen and rejected are the texts the model wrote, byte for byte (each sample's
  stored ``raw_text``), never steps joined again; an unanswered sample is a rejected response
  unless ``exclude_unanswered``. The pair recipe (k + k -> k distinct, seeded) is
  algorithms.pairs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from algorithms.pairs import sample_dpo_pairs
from annotation.datasets.export.left_out import Skip, Tally
from annotation.problems.models import Origin, Problem
from annotation.problems.selectors import TraceView

if TYPE_CHECKING:
    from annotation.datasets.export.options import ExportOptions

Row = dict[str, Any]
Counts = Counter[str]
# Solutions that go straight to the answer, versus journeys with their detours.
SHORTCUT_ORIGINS: tuple[str, ...] = tuple(
    o.value for o in (Origin.IMPORTED, Origin.HUMAN_SOLUTION, Origin.MODEL_SAMPLE, Origin.TREE)
)
JOURNEY_ORIGINS: tuple[str, ...] = (Origin.LONG_THOUGHT.value, Origin.EXPANSION.value)
RAW_TEXT = "raw_text"  # the trace metadata key of a generation's text as the model wrote it

# What each format needs, said when an export has no rows.
SHORTCUT_NEEDS = "a correct answer (is_correct true)"
JOURNEY_NEEDS = (
    "a verified correct answer, at least one trial, and for a long thought a rewrite (drafts "
    "when kinds asks for them) that passed its fidelity check; or an expansion not known wrong"
)
DPO_NEEDS = "a correct and an incorrect (or unanswered) sample of the same problem, with raw text"


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


def prompt_text(view: TraceView) -> str:
    """The prompt the trace's model saw (selection.PromptTexts), else the problem itself."""
    return view.prompt if view.prompt is not None else view.trace.problem.text


def _chat(view: TraceView, text: str) -> Row:
    return {
        "messages": [
            {"role": "user", "content": prompt_text(view)},
            {"role": "assistant", "content": text},
        ]
    }


def sft_shortcut_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    """Correct solution paths only (is_correct true), as chat messages."""
    if view.trace.is_correct is not True:
        return Skip("not_correct")
    text = solution_text(view)
    return _chat(view, text) if text is not None else Skip("no_final_answer")


def trials_of(metadata: dict[str, Any]) -> int | None:
    """How many trials a long thought made (wrong nodes reflected on, and backtracks the model
    chose), None when the trace does not say."""
    for key in ("trials", "wrong_leaves"):
        if isinstance(value := metadata.get(key), int):
            return value
    return None


def journey_skip(view: TraceView, options: ExportOptions) -> Skip | None:
    """Why a journey trace is no row of sft-journey, or None."""
    trace = view.trace
    if trace.is_correct is False:
        return Skip("wrong_answer")
    if trace.origin != Origin.LONG_THOUGHT:
        return None
    meta = trace.metadata or {}
    if meta.get("kind") == "draft" and "draft" not in options.kinds:
        return Skip("draft_not_rewrite")
    if trace.is_correct is not True and not options.include_unverified:
        return Skip("unverified_answer")
    if trials_of(meta) == 0 and not options.include_no_trial:
        return Skip("no_trial")
    fidelity = meta.get("fidelity")
    if isinstance(fidelity, dict) and not fidelity.get("passed") and not options.include_unfaithful:
        return Skip("rewrite_failed_fidelity")
    return None


def sft_journey_row(view: TraceView, options: ExportOptions) -> Row | Skip:
    """Journeys with every attempt, reflection and backtrack on their path, ending with the
    final answer (see the module's rules)."""
    if (skip := journey_skip(view, options)) is not None:
        return skip
    text = solution_text(view)
    return _chat(view, text) if text is not None else Skip("no_final_answer")


def raw_text(view: TraceView) -> str | None:
    """The sample as the model wrote it, or None for a sample stored without it."""
    text = (view.trace.metadata or {}).get(RAW_TEXT)
    return text if isinstance(text, str) else None


def dpo_rows(
    problem: Problem,
    views: list[TraceView],
    options: ExportOptions,
    counts: Counts,
    left_out: Tally,
) -> Iterator[Row]:
    """The recipe's pairs: up to ``pairs_per_problem`` distinct correct and as many distinct
    rejected responses (wrong, or unanswered unless exclude_unanswered) of one problem, paired
    one to one (seeded per problem). Each response is its sample's raw text; the prompt is the
    one the chosen sample was generated with."""
    correct: list[tuple[TraceView, str]] = []
    rejected: list[tuple[TraceView, str]] = []
    seen: set[int] = set()  # a trace comes once per source that graded it
    for view in views:
        if view.trace.pk in seen:
            continue
        seen.add(view.trace.pk)
        text = raw_text(view)
        unanswered = view.trace.final_answer is None
        if text is None:
            left_out.add("response_without_raw_text", f"trace {view.trace.pk}")
        elif view.trace.is_correct is True:
            correct.append((view, text))
        elif view.trace.is_correct is False or (unanswered and not options.exclude_unanswered):
            rejected.append((view, text))
        elif unanswered:
            left_out.add("response_without_answer", f"trace {view.trace.pk}")
        else:
            left_out.add("response_ungraded", f"trace {view.trace.pk}")
    if not correct or not rejected:
        reason = "problem_without_correct" if not correct else "problem_without_incorrect"
        left_out.add(reason, f"problem {problem.external_id}")
        return
    seed = hash_seed(options.seed, problem.external_id)
    pairs = sample_dpo_pairs(
        correct, rejected, k=options.pairs_per_problem, seed=seed, key=lambda item: item[1]
    )
    if len(pairs) < options.pairs_per_problem:
        counts["problems_with_fewer_pairs"] += 1
    for (view, chosen), (_, worse) in pairs:
        yield {
            "prompt": [{"role": "user", "content": prompt_text(view)}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": worse}],
        }


def hash_seed(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")
