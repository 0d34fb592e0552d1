"""What a draft or a submit may hold: step grades, thoughts, time spent, finish reason.

The parsers raise WorkspaceError with a message that names the step or thought to fix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from annotation.grading.services import StepGrade
from annotation.problems.models import FinishReason, StepKind
from annotation.workspace.services.errors import WorkspaceError

THOUGHT_KINDS = (
    StepKind.ATTEMPT,
    StepKind.REFLECTION,
    StepKind.BACKTRACK,
    StepKind.CORRECTION,
    StepKind.EXPLANATION,
    StepKind.CONCLUSION,
)
MAX_TEXT = 20_000
MAX_THOUGHTS = 500


def _clean_time(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WorkspaceError("time_spent_ms must be a whole number of milliseconds, 0 or more.")
    return min(value, 7 * 24 * 3600 * 1000)


def parse_step_grades(raw: Any, path_nodes: dict[str, int]) -> dict[uuid.UUID, StepGrade]:
    """`{"<node id>": {"rating": -1|0|1|null, "unsure": bool, ...}}` checked against the path."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise WorkspaceError("grades must be an object keyed by step node id.")
    grades: dict[uuid.UUID, StepGrade] = {}
    for key, value in raw.items():
        if key not in path_nodes:
            raise WorkspaceError(f"Step {key} is not a step of this trace; reload the page.")
        if not isinstance(value, dict):
            raise WorkspaceError(f"The grade of step {path_nodes[key] + 1} must be an object.")
        rating = value.get("rating")
        if rating is not None and (type(rating) is not int or rating not in (-1, 0, 1)):
            raise WorkspaceError(f"Step {path_nodes[key] + 1}: rating must be -1, 0, 1 or null.")
        texts = [value.get(name) or "" for name in ("critique", "correction")]
        if any(not isinstance(t, str) or len(t) > MAX_TEXT for t in texts):
            raise WorkspaceError(
                f"Step {path_nodes[key] + 1}: critique and correction must be text of at most "
                f"{MAX_TEXT} characters."
            )
        grades[uuid.UUID(key)] = StepGrade(
            rating=rating,
            unsure=bool(value.get("unsure")),
            critique=texts[0].strip(),
            correction=texts[1].strip(),
        )
    return grades


@dataclass(frozen=True, slots=True)
class Thought:
    kind: str
    text: str
    backtrack_to: int | None  # 0-based position of the abandoned thought


def parse_thoughts(raw: Any, *, strict: bool) -> list[Thought]:
    """`[{"kind": ..., "text": ..., "backtrack_to": <1-based number or null>}]`.

    Drafts (strict=False) may hold empty thoughts and dangling backtracks; a submit may not.
    """
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_THOUGHTS:
        raise WorkspaceError(f"thoughts must be a list of at most {MAX_THOUGHTS} thoughts.")
    thoughts: list[Thought] = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise WorkspaceError(f"Thought {number} must be an object.")
        kind = item.get("kind")
        text = item.get("text") or ""
        if kind not in THOUGHT_KINDS:
            raise WorkspaceError(
                f"Thought {number}: kind must be one of {', '.join(THOUGHT_KINDS)}."
            )
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise WorkspaceError(f"Thought {number}: text of at most {MAX_TEXT} characters.")
        target = item.get("backtrack_to")
        if target is not None and (not isinstance(target, int) or isinstance(target, bool)):
            raise WorkspaceError(f"Thought {number}: backtrack_to must be a thought number.")
        if strict:
            if not text.strip():
                raise WorkspaceError(f"Thought {number} is empty: write it or delete it.")
            if kind == StepKind.BACKTRACK and (target is None or not 1 <= target < number):
                raise WorkspaceError(
                    f"Thought {number} is a backtrack: say which earlier thought (1 to "
                    f"{number - 1}) it abandons."
                )
        thoughts.append(
            Thought(
                kind=kind,
                text=text.strip(),
                backtrack_to=target - 1 if kind == StepKind.BACKTRACK and target else None,
            )
        )
    return thoughts


def finish_reason_of(value: Any) -> str:
    if value not in FinishReason.values:
        raise WorkspaceError(f"Choose how the work ended: one of {', '.join(FinishReason.values)}.")
    return str(value)
