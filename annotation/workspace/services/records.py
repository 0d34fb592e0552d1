"""A thought record's submit: the record becomes a trace (origin thought_record)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from algorithms.answers import answers_equivalent
from annotation.core.text_policy import without_invisible
from annotation.problems.models import FinishReason, Origin, Trace
from annotation.problems.services import NewStep, NewTrace, trace_create
from annotation.workspace.models import Assignment, AssignmentStatus, EventKind
from annotation.workspace.services.drafts import (
    Thought,
    _clean_time,
    finish_reason_of,
    parse_thoughts,
)
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.events import event_add
from annotation.workspace.services.time_on_item import time_on_item_report
from annotation.workspace.services.versions import check_writable, compare_and_swap


def record_submit(
    *,
    assignment: Assignment,
    version: Any,
    draft: dict[str, Any],
    finish_reason: Any,
    checklist: Any,
    time_spent_ms: Any = None,
) -> Trace:
    """Writes the thought record as a trace (origin thought_record) and checks its answer."""
    reason = finish_reason_of(finish_reason)
    thoughts = parse_thoughts(draft.get("thoughts"), strict=True)
    if not thoughts:
        raise WorkspaceError("Write at least one thought before submitting.")
    answer = draft.get("final_answer") or ""
    if not isinstance(answer, str) or len(answer) > 1000:
        raise WorkspaceError("The final answer must be text of at most 1000 characters.")
    # "42" + U+200B is the answer "42" (annotation/core/text_policy.py), as an import's is
    answer = without_invisible(answer).strip()
    if reason == FinishReason.SOLUTION and not answer:
        raise WorkspaceError("Write the final answer, or finish with give_up or bad_problem.")
    if (
        not isinstance(checklist, dict)
        or checklist.get("attempts") is not True
        or checklist.get("common_knowledge") is not True
    ):
        raise WorkspaceError(
            "Tick both checklist items: every attempt and shift of thought is recorded with its "
            "reason, and the common knowledge used is stated."
        )
    truth = assignment.problem.answer
    # Outside the transaction: the checker runs in a subprocess and may take seconds.
    is_correct = (
        answers_equivalent(answer, truth, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S)
        if answer and truth
        else None
    )
    return _record_write(
        assignment=assignment,
        version=version,
        draft=draft,
        thoughts=thoughts,
        answer=answer or None,
        is_correct=is_correct,
        reason=reason,
        time_spent_ms=_clean_time(time_spent_ms),
    )


@transaction.atomic
def _record_write(
    *,
    assignment: Assignment,
    version: Any,
    draft: dict[str, Any],
    thoughts: list[Thought],
    answer: str | None,
    is_correct: bool | None,
    reason: str,
    time_spent_ms: int | None,
) -> Trace:
    check_writable(assignment)
    new_version = compare_and_swap(assignment, version=version, draft=draft)
    time_on_item_report(assignment=assignment, total_ms=time_spent_ms)
    spent = Assignment.objects.values_list("time_spent_ms", flat=True).get(pk=assignment.pk)
    trace = trace_create(
        NewTrace(
            problem_id=assignment.problem_id,
            origin=Origin.THOUGHT_RECORD,
            author_id=assignment.annotator_id,
            final_answer=answer,
            is_correct=is_correct,
            finish_reason=reason,
            time_spent_ms=spent,
            steps=[
                NewStep(position, t.text, t.kind, backtrack_to=t.backtrack_to)
                for position, t in enumerate(thoughts)
            ],
        )
    )
    Assignment.objects.filter(pk=assignment.pk).update(
        status=AssignmentStatus.SUBMITTED,
        finish_reason=reason,
        submitted_at=timezone.now(),
        record=trace,
        review_status=None,  # a new submit awaits its review (the events keep the last one)
    )
    event_add(
        assignment,
        EventKind.SUBMITTED,
        actor=assignment.annotator,
        version=new_version,
        record=trace,
    )
    return trace
