"""Why an export left something out, counted by reason in the manifest's `left_out`.

A row function returns `Skip(reason)` for a trace it cannot export; the pipeline tallies it
with the first few trace ids, so the manifest and the export's page say how many traces each
reason took and which. What a group or paired format leaves out (DPO responses and problems,
problems one side of a pair lacks), traces of an origin the export does not read, rows cut after
the first bad step, held-out rows (test, never train) and removed duplicates are tallied the
same way. An export with no rows names the same reasons (pipeline.EmptyExport).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EXAMPLES = 10  # ids kept per reason

# reason -> why, as the manifest and the export page say it
REASONS: dict[str, str] = {
    "not_fully_graded": "traces with a step before the first error (any step, without an "
    "error) that has no grade from the chosen grade source (the grades option): graded by "
    "nobody, or by another source; never read as 'no error'",
    "screening_failed": "labels of people who did not pass screening in the project; keep "
    "them with keep_failed_screening",
    "gold_item": "labels given on gold items (quality control or screening questions: they "
    "measure the person); keep them with keep_gold_items",
    "review_rejected": "labels of work rejected or returned in review; keep them with review=all",
    "low_agreement": "traces with a step whose combined grade agrees less than min_agreement",
    "no_labeler_or_ratings": "traces nobody graded with ratings (no labeler, or no rating on "
    "any step); keep them with keep_unlabeled",
    "not_correct": "traces whose final answer is not known to be correct (this format takes "
    "correct solutions only)",
    "wrong_answer": "traces with a wrong final answer",
    "no_final_answer": "traces with no final answer and no steps to end with one",
    "rewrite_failed_fidelity": "long-thought rewrites that failed their fidelity check; keep "
    "them with include_unfaithful",
    "response_without_answer": "samples with no final answer, left out by exclude_unanswered "
    "(by default they are rejected responses)",
    "response_without_raw_text": "samples stored without the text the model wrote (raw_text), "
    "so no pair can hold it byte for byte",
    "response_ungraded": "samples whose answer could not be graded (no ground truth)",
    "draft_not_rewrite": "long-thought drafts: sft-journey takes the rewrites; ask for drafts "
    "with kinds=draft",
    "unverified_answer": "long thoughts without a verified correct answer (a loop that ended "
    "unverified); keep them with include_unverified",
    "no_trial": "long thoughts that make no trial (no wrong node reflected on, no backtrack): "
    "the shortcut again; keep them with include_no_trial",
    "another_solution": "correct solutions (pairs) beyond the first of a problem (one_per_problem)",
    "problem_without_correct": "problems with no answered correct sample to choose (counted "
    "by problem)",
    "problem_without_incorrect": "problems with no answered incorrect sample to reject "
    "(counted by problem)",
    "problem_without_sft-journey": "problems whose shortcut has no journey row to pair with "
    "(counted by problem)",
    "problem_without_sft-shortcut": "problems whose journey has no shortcut row to pair with "
    "(counted by problem)",
    "unpaired_row": "rows of a problem beyond the ones the other format has a partner for",
    "origin": "traces of an origin this export does not read (the origins option or the "
    "format's default)",
    "after_error": "rows kept but cut after the first error, a -1 (after_error = drop), or "
    "at the first ungraded step after it: the later steps are left out",
    "unrated_alternative": "traces with an alternative step nobody rated: it makes no row",
    "alternative_after_error": "traces with a rated alternative after the first error (or "
    "after an ungraded step): it makes no row",
    "alternatives_not_asked": "traces with rated alternatives, written as their chosen path "
    "only (chosen_path_only)",
    "alternatives_not_expressible": "traces with alternatives offered at a step, which this "
    "format cannot express: the chosen path only is written",
    "held_out": "rows of held-out problems: written to test, never to train",
    "duplicate": "rows equal to an earlier row of the same problem (dedupe)",
}


@dataclass(frozen=True)
class Skip:
    """What a row function returns instead of a row: the reason (a key of REASONS)."""

    reason: str

    def __post_init__(self) -> None:
        known_reason(self.reason)


def known_reason(reason: str) -> str:
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    return reason


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, example: str | None = None, count: int = 1) -> None:
        self.counts[known_reason(reason)] = self.counts.get(reason, 0) + count
        kept = self.examples.setdefault(reason, [])
        # a trace graded by two sources is two rows: its id is listed once
        if example is not None and len(kept) < EXAMPLES and example not in kept:
            kept.append(example)

    def as_manifest(self) -> dict[str, Any]:
        """{reason: {count, why, examples}} in REASONS order; reasons that took nothing are
        absent."""
        return {
            reason: {
                "count": self.counts[reason],
                "why": why,
                "examples": self.examples.get(reason, []),
            }
            for reason, why in REASONS.items()
            if self.counts.get(reason)
        }


def left_out_rows(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's left_out as rows for a page: reason, count, why, examples."""
    return [
        {"reason": reason, **entry} for reason, entry in (manifest.get("left_out") or {}).items()
    ]
