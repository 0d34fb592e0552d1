"""Which people's work downstream jobs and exports read, by its review.

People's work is reviewed on its claim (Assignment.review_status):
- a thought record passes by its claim's review; an earlier version of a record that was
  returned and submitted again is superseded, and passes only with "all";
- a trace made from a thought record (an expansion) passes as the record does;
- an annotator's labeled path (their own path through a trace) passes by their claim's review;
- an annotator's grades pass by the review of the claim they were given in.
Work returned for changes counts as rejected until it is submitted again. Everything else
(imported data, model outputs, trees) is nobody's reviewed work and always passes.

The filters: "not_rejected" (the default) leaves out rejected, returned and superseded work;
"accepted" keeps only people's work a reviewer accepted (a thought record with no claim, e.g.
written by a script, is not); "all" keeps everything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from django import forms
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotation.grading.models import GradeSource, SourceKind
from annotation.problems.models import Origin, Trace
from annotation.workspace.models import Assignment, AssignmentEvent, ReviewStatus

REFUSED = (ReviewStatus.REJECTED, ReviewStatus.RETURNED)
Keys = Collection[tuple[int, int]]  # (trace id, grade source id)


def _status_of(**claim: Any) -> Coalesce:
    """The review of the claim behind a trace, "" when none (never NULL: a NULL would drop
    the row from NOT (...) filters)."""
    status = Subquery(Assignment.objects.filter(**claim).values("review_status")[:1])
    return Coalesce(status, Value(""), output_field=CharField())


def _superseded(ref: str) -> Exists:
    """The record `ref` names was written by a submit its claim no longer points at."""
    return Exists(
        AssignmentEvent.objects.filter(record=OuterRef(ref)).exclude(
            assignment__record=OuterRef(ref)
        )
    )


def traces_passing(traces: QuerySet[Trace], review: str) -> QuerySet[Trace]:
    """The traces whose people's work passes the review filter."""
    if review == "all":
        return traces
    traces = traces.annotate(
        _record_review=_status_of(record=OuterRef("pk")),
        _labeled_review=_status_of(work_trace=OuterRef("pk")),
        _source_review=_status_of(record=OuterRef("source_trace_id")),
    )
    record = Q(origin=Origin.THOUGHT_RECORD)
    labeled = Q(origin=Origin.LABELED)
    derived = Q(source_trace__origin=Origin.THOUGHT_RECORD) & ~record
    if review == "accepted":
        return traces.filter(
            (~record & ~labeled & ~derived)
            | (record & Q(_record_review=ReviewStatus.ACCEPTED) & ~_superseded("pk"))
            | (labeled & Q(_labeled_review=ReviewStatus.ACCEPTED))
            | (derived & Q(_source_review=ReviewStatus.ACCEPTED) & ~_superseded("source_trace_id"))
        )
    return traces.exclude(
        (record & (Q(_record_review__in=REFUSED) | _superseded("pk")))
        | (labeled & Q(_labeled_review__in=REFUSED))
        | (derived & (Q(_source_review__in=REFUSED) | _superseded("source_trace_id")))
    )


def trace_ids_passing(trace_ids: Collection[int], review: str) -> list[int]:
    """The ids, in their order, of the traces that pass (an expansion job's input)."""
    passing = set(
        traces_passing(Trace.objects.filter(pk__in=list(trace_ids)), review).values_list(
            "pk", flat=True
        )
    )
    return [pk for pk in trace_ids if pk in passing]


def _claim(ref_trace: str, ref_user: str, statuses: Any) -> Exists:
    return Exists(
        Assignment.objects.filter(
            annotator_id=OuterRef(ref_user), review_status__in=statuses
        ).filter(Q(trace_id=OuterRef(ref_trace)) | Q(work_trace_id=OuterRef(ref_trace)))
    )


def grades_passing(review: str) -> Q:
    """A filter of grades: an annotator's grade passes by the claim it was given in."""
    if review == "all":
        return Q()
    if review == "accepted":
        accepted = _claim("trace_id", "source__user_id", [ReviewStatus.ACCEPTED])
        return ~Q(source__kind=SourceKind.HUMAN) | Q(accepted)
    return ~Q(_claim("trace_id", "source__user_id", REFUSED))


def graders_passing(review: str) -> Callable[[Keys], set[tuple[int, int]]]:
    """For exports that show a trace once per source that graded in it: which (trace, source)
    pairs pass."""

    def passing(keys: Keys) -> set[tuple[int, int]]:
        keys = set(keys)
        if review == "all" or not keys:
            return keys
        people = dict(
            GradeSource.objects.filter(
                pk__in={s for _, s in keys}, kind=SourceKind.HUMAN
            ).values_list("pk", "user_id")
        )
        if not people:  # nobody's reviewed work: every source passes
            return keys
        statuses: dict[tuple[int, int], str | None] = {}
        traces = {t for t, _ in keys}
        for trace_id, work_id, user, status in Assignment.objects.filter(
            Q(trace_id__in=traces) | Q(work_trace_id__in=traces),
            annotator_id__in=set(people.values()),
        ).values_list("trace_id", "work_trace_id", "annotator_id", "review_status"):
            for tid in (trace_id, work_id):
                if tid is not None:
                    statuses[(tid, user)] = status
        result = set()
        for trace_id, source in keys:
            if source not in people:
                result.add((trace_id, source))
                continue
            status = statuses.get((trace_id, people[source]))
            accepted = status == ReviewStatus.ACCEPTED
            if accepted if review == "accepted" else status not in REFUSED:
                result.add((trace_id, source))
        return result

    return passing


def review_filter_field(help_text: str) -> forms.ChoiceField:
    """The review filter as a form field (an export's, an expansion job's); empty: the
    default, not rejected."""
    return forms.ChoiceField(
        choices=[
            ("not_rejected", "not rejected"),
            ("accepted", "accepted only"),
            ("all", "all, rejected too"),
        ],
        required=False,
        initial="not_rejected",
        help_text=help_text,
    )
