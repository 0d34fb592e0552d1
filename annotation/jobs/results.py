"""A job's result as tables a person reads: a label and a unit for each key a runner writes,
numbers formatted, and the nested parts (a tree job's chunks) as tables of their own. The
manifest of an export has its own table (datasets/export_pages.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# key -> (label, unit). Keys a runner writes that are missing here are shown from their name.
RESULT_LABELS: dict[str, tuple[str, str]] = {
    # generation (sample, expand)
    "traces": ("Traces", ""),
    "correct": ("Correct final answers", ""),
    "incorrect": ("Wrong final answers", ""),
    "ungraded": ("Answers not graded (none found, or no ground truth)", ""),
    "tokens": ("Tokens generated", "tokens"),
    "generation_seconds": ("Generation time", "s"),
    "tokens_per_second": ("Throughput", "tokens/s"),
    "grades": ("Step scores written", ""),
    # scoring
    "mean_score": ("Mean step score", ""),
    "source": ("Grade source", ""),
    # trees
    "problems": ("Problems", ""),
    "nodes": ("Tree nodes", ""),
    "leaves": ("Leaves", ""),
    "correct_leaves": ("Correct leaves", ""),
    "problems_with_correct_leaf": ("Problems with a correct leaf", ""),
    # long thoughts
    "shortcuts": ("Shortcuts (the direct correct path)", ""),
    "drafts": ("Long-thought drafts", ""),
    "rewrites": ("Rewrites by the model", ""),
    "rewrites_failing_fidelity": ("Rewrites that failed their fidelity check", ""),
    "without_correct_leaf_this_run": ("Trees without a correct leaf (no long thought)", ""),
    # continuations of an annotator's path
    "attached": ("Attached to the annotator's path", ""),
    "steps": ("Steps written", ""),
    "finish": ("Finish reason", ""),
    "reason": ("Why not", ""),
    # Monte-Carlo
    "mode": ("Mode", ""),
    "n": ("Rollouts per prefix", ""),
    "rollouts": ("Rollouts", ""),
    "reached": ("Rollouts that reached the answer", ""),
    "prefixes": ("Prefixes rolled out", ""),
    "labels": ("Step labels", ""),
    "inferred": ("Labels inferred (binary search)", ""),
    "bad": ("Steps labelled bad", ""),
    # imports
    "records": ("Records read", ""),
    "problems_created": ("Problems created", ""),
    "traces_created": ("Traces created", ""),
    "traces_existing": ("Traces already there", ""),
    "nodes_created": ("Step nodes created", ""),
    "grades_created": ("Grades created", ""),
    "invalid_records": ("Invalid records skipped", ""),
    # exports (the manifest's counts)
    "rows": ("Rows written", ""),
    "traces_read": ("Traces read", ""),
    "problems_read": ("Problems read", ""),
    "traces_skipped": ("Traces left out (see “Left out, and why”)", ""),
    "duplicates_removed": ("Duplicate rows removed", ""),
    "held_out_rows": ("Rows of held-out problems (in test)", ""),
}
# Parts of a result shown by tables of their own.
NESTED_KEYS = frozenset({"chunks", "manifest", "files"})

CHUNK_COLUMNS: list[tuple[str, str]] = [
    ("problems", "Problems"),
    ("generate_calls", "Generator calls"),
    ("score_calls", "Scorer calls"),
    ("expand_requests", "Nodes expanded per depth"),
    ("score_requests", "Nodes scored per depth"),
]


@dataclass(frozen=True)
class ResultRow:
    key: str
    label: str
    value: str


def label_of(key: str) -> str:
    return RESULT_LABELS.get(key, (key.replace("_", " ").capitalize(), ""))[0]


def format_value(value: Any, unit: str = "") -> str:
    """A number with thousands separators (floats to 3 significant decimals), yes/no, or —."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    elif isinstance(value, list | tuple):
        text = ", ".join(format_value(item) for item in value) or "—"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


ORDER = {key: position for position, key in enumerate(RESULT_LABELS)}


def in_reading_order(keys: Iterable[str]) -> list[str]:
    """Keys in RESULT_LABELS order (what a reader expects first), unknown ones after, by name;
    a JSON column does not keep the order a runner wrote them in."""
    return sorted(keys, key=lambda key: (ORDER.get(key, len(ORDER)), key))


def result_rows(result: Mapping[str, Any] | None) -> list[ResultRow]:
    """The scalar parts of a job's result, labelled, in reading order."""
    rows = []
    result = result or {}
    for key in in_reading_order(result):
        value = result[key]
        if key in NESTED_KEYS or isinstance(value, Mapping):
            continue
        label, unit = RESULT_LABELS.get(key, (label_of(key), ""))
        rows.append(ResultRow(key, label, format_value(value, unit)))
    return rows


def chunk_rows(result: Mapping[str, Any] | None) -> list[list[str]]:
    """A tree job's chunks: one row per chunk, cells in CHUNK_COLUMNS order (another kind's
    runner may use the key for something else: only a list of chunk reports makes rows)."""
    chunks = (result or {}).get("chunks")
    rows = []
    for chunk in chunks if isinstance(chunks, list) else []:
        if not isinstance(chunk, Mapping):
            continue
        calls = chunk.get("backend_calls") or {}
        flat = {
            **chunk,
            "generate_calls": calls.get("generate"),
            "score_calls": calls.get("score"),
        }
        rows.append([format_value(flat.get(key)) for key, _ in CHUNK_COLUMNS])
    return rows
