"""PRM800K's row of work done in Stepwise, rendered from the labelled path in PRM800K's own
shape, so that readers written for PRM800K (TRL's conversion, OpenR's) read it as they read
PRM800K: every step's model completions as `completions` (a list, each with `rating`, null
where unrated, and `flagged` a boolean), the person's own step as `human_completion`,
`chosen_completion` the index of the completion that continues the path, the labeler an
opaque id stable per project and person (never a username), the timestamp written as
PRM800K writes it (UTC, no offset), total_time in milliseconds.

Imported PRM800K rows are not rendered here: they round-trip as they came
(annotation/datasets/formats/prm800k.py).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from annotation.grading.labelled_path import Alternative, Label, LabelledPath, LabelledStep
from annotation.problems.selectors import TraceView

PERSON_SOURCE_PREFIX = "user:"  # an annotator's grade source (grading.services.person_source)
_GOLD_FLAGS = {"qc": "is_quality_control_question", "screening": "is_initial_screening_question"}


def native_row(view: TraceView, record: LabelledPath) -> dict[str, Any]:
    trace = view.trace
    source = trace.source_trace
    imported = (trace.metadata or {}).get("prm800k") or (
        (source.metadata or {}).get("prm800k") if source is not None else None
    )
    origin_row: dict[str, Any] = imported or {}
    work = view.labeling or {}
    question = {
        "problem": trace.problem.text,
        **{k: v for k, v in (origin_row.get("question") or {}).items() if k != "problem"},
    }
    question.setdefault("ground_truth_answer", trace.problem.answer)
    purpose = work.get("purpose")
    return {
        "labeler": labeler_id(trace.problem.project_id, record.labeller),
        "timestamp": prm800k_timestamp(work.get("submitted_at") or trace.created_at),
        "generation": origin_row.get("generation"),
        **{
            flag: purpose == kind or origin_row.get(flag) is True
            for kind, flag in _GOLD_FLAGS.items()
        },
        "question": question,
        "label": {
            "steps": [_step(step) for step in record.steps] + _ending(record.ending),
            "total_time": record.time_spent_ms,
            "finish_reason": record.finish_reason,
        },
    }


def labeler_id(project_id: int, source_name: str | None) -> str | None:
    """A person's opaque labeler id: a UUID keyed by the deployment's secret, stable per
    project and person, from which neither the name nor the other projects' ids can be read.
    A model run's or a combined grade's source keeps its name (no person's)."""
    if source_name is None or not source_name.startswith(PERSON_SOURCE_PREFIX):
        return source_name
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        f"prm800k-labeler:{project_id}:{source_name}".encode(),
        hashlib.sha256,
    ).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def prm800k_timestamp(moment: datetime) -> str:
    """As PRM800K writes it: UTC, microseconds, no offset (2022-07-30T23:23:32.118856)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _completion(text: str, label: Label) -> dict[str, Any]:
    return {"text": text, "rating": label.value, "flagged": bool(label.flagged)}


def _step(step: LabelledStep) -> dict[str, Any]:
    offered = [(alt.option, _completion(alt.text, alt.label)) for alt in step.alternatives]
    if not step.own:
        offered.append((step.option if step.option is not None else -1, {}))
    offered.sort(key=lambda item: item[0])
    chosen = None
    completions = []
    for index, (_, completion) in enumerate(offered):
        if not completion:  # the chosen model step, at its place among those offered
            chosen, completion = index, _completion(step.text, step.label)
        completions.append(completion)
    human = None
    if step.own:
        human = {
            "text": step.text,
            "rating": step.label.rating,  # their own rating of it, if any (PRM800K's: null)
            "source": "human",
            "flagged": bool(step.label.flagged),
        }
    return {"completions": completions, "human_completion": human, "chosen_completion": chosen}


def _ending(ending: tuple[Alternative, ...]) -> list[dict[str, Any]]:
    """The alternatives offered after the last path step, none chosen (found_error)."""
    if not ending:
        return []
    return [
        {
            "completions": [_completion(alt.text, alt.label) for alt in ending],
            "human_completion": None,
            "chosen_completion": None,
        }
    ]
