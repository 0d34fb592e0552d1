"""Writes of the workspace: claims, versioned saves, submits, reviews, gold items."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.core.bulk import insert_rows
from annotation.core.fixed_sql import Selected, execute, fetch_all
from annotation.core.models import Project
from annotation.evaluation.selectors import queue_order
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.problems.models import (
    FinishReason,
    Origin,
    Problem,
    StepKind,
    StepNode,
    Trace,
    TraceStep,
)
from annotation.problems.tree import node_id
from annotation.workspace.models import (
    ACTIVE_STATUSES,
    Assignment,
    AssignmentStatus,
    GoldItem,
    ItemKind,
    ReviewStatus,
)
from workers.algorithms.answers import answers_equivalent

# Traces that are put in front of annotators to grade. Thought records are reviewed, not graded;
# tree paths and long thoughts are researchers' material.
GRADEABLE_ORIGINS = (Origin.IMPORTED, Origin.MODEL_SAMPLE, Origin.HUMAN_SOLUTION, Origin.EXPANSION)
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


class WorkspaceError(Exception):
    """A request the user can fix; the message says what to change."""


class VersionConflict(Exception):
    """The save was based on an older version than the stored one."""

    def __init__(self, assignment: Assignment) -> None:
        super().__init__("Someone else saved this work in another window.")
        self.assignment = assignment


# Sources ----------------------------------------------------------------------------------


def human_source(*, user: Any) -> GradeSource:
    """The grade source of one annotator (created on first use); no query when the user was
    fetched with `select_related("...__grade_source")`."""
    try:
        return user.grade_source
    except GradeSource.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return GradeSource.objects.create(
                kind=SourceKind.HUMAN, user=user, name=f"user:{user.username}"
            )
    except IntegrityError:  # created by a concurrent request
        return GradeSource.objects.get(user=user)


# Claims -----------------------------------------------------------------------------------


def expire_stale_claims(*, project: Project) -> int:
    """In-progress claims with no save for `claim_timeout_minutes` give their place back."""
    cutoff = timezone.now() - timedelta(minutes=project.claim_timeout_minutes)
    return Assignment.objects.filter(
        project=project, status=AssignmentStatus.IN_PROGRESS, updated_at__lt=cutoff
    ).update(status=AssignmentStatus.EXPIRED)


def _item_field(kind: str) -> str:
    return "trace" if kind == ItemKind.GRADE else "problem"


def _candidates(*, project: Project, kind: str) -> QuerySet[Any]:
    if kind == ItemKind.GRADE:
        return Trace.objects.filter(problem__project=project, origin__in=GRADEABLE_ORIGINS)
    return Problem.objects.filter(project=project)


def _active_count(kind: str, item_ref: Any) -> Subquery:
    field = _item_field(kind)
    return Subquery(
        Assignment.objects.filter(kind=kind, status__in=ACTIVE_STATUSES, **{field: item_ref})
        .order_by()
        .values(field)
        .annotate(n=Count("id"))
        .values("n"),
        output_field=IntegerField(),
    )


def open_items(*, project: Project, user: Any, kind: str) -> QuerySet[Any]:
    """Items this user could claim now: not done or skipped by them, with a free place."""
    field = _item_field(kind)
    mine_closed = Assignment.objects.filter(
        kind=kind,
        annotator=user,
        status__in=[AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED],
        **{field: OuterRef("pk")},
    )
    return (
        _candidates(project=project, kind=kind)
        .alias(taken=Coalesce(_active_count(kind, OuterRef("pk")), 0))
        .filter(~Exists(mine_closed), taken__lt=project.overlap)
    )


def _lock_user(project: Project, user: Any) -> None:
    """One claim at a time per annotator and project (two tabs pressing Next together)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [project.pk, user.pk])


def _place_is_free(kind: str, item_pk: int, overlap: int, exclude_pk: int | None) -> bool:
    # A new statement: under READ COMMITTED it sees every claim committed before our row lock.
    taken = Assignment.objects.filter(
        kind=kind, status__in=ACTIVE_STATUSES, **{f"{_item_field(kind)}_id": item_pk}
    )
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.count() < overlap


@transaction.atomic
def assignment_claim_next(*, project: Project, user: Any, kind: str) -> Assignment | None:
    """The annotator's in-progress item of this kind, else a new claim; None when none is left.

    The item row is locked with FOR UPDATE SKIP LOCKED and its claims are counted again after
    the lock, so concurrent claimers never put more than `overlap` annotators on one item.
    """
    if kind not in ItemKind.values:
        raise WorkspaceError(f"Unknown queue {kind!r}: use one of {', '.join(ItemKind.values)}.")
    _lock_user(project, user)
    expire_stale_claims(project=project)
    current = (
        Assignment.objects.filter(
            project=project, kind=kind, annotator=user, status=AssignmentStatus.IN_PROGRESS
        )
        .order_by("claimed_at", "id")
        .first()
    )
    if current is not None:
        return current
    skipped_over: set[int] = set()
    for _attempt in range(100):
        candidates = (
            open_items(project=project, user=user, kind=kind)
            .exclude(pk__in=skipped_over)
            .annotate(started=Coalesce(_active_count(kind, OuterRef("pk")), 0))
            # Finish items others started first, so agreement can be measured early.
            .order_by(*queue_order(kind))  # started items, then machine disagreement
        )
        item = candidates.select_for_update(skip_locked=True, of=("self",)).first()
        if item is None:
            # Every open item is being claimed right now: wait for one of those claims to end,
            # then count again (it may still have a place).
            item = candidates.select_for_update(of=("self",)).first()
        if item is None:
            return None
        previous = Assignment.objects.filter(
            kind=kind, annotator=user, **{_item_field(kind): item}
        ).first()
        if not _place_is_free(kind, item.pk, project.overlap, None):
            skipped_over.add(item.pk)
            continue
        now = timezone.now()
        if previous is not None:  # an expired claim of ours: take it up again, draft and all
            previous.status = AssignmentStatus.IN_PROGRESS
            previous.claimed_at = now
            previous.save(update_fields=["status", "claimed_at", "updated_at"])
            return previous
        problem_id = item.problem_id if kind == ItemKind.GRADE else item.pk
        return Assignment.objects.create(
            project=project,
            kind=kind,
            problem_id=problem_id,
            trace=item if kind == ItemKind.GRADE else None,
            annotator=user,
            claimed_at=now,
        )
    return None


@transaction.atomic
def assignment_skip(*, assignment: Assignment, reason: str) -> Assignment:
    reason = reason.strip()
    if not reason:
        raise WorkspaceError("Say why you skip this item (the reason field is empty).")
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        raise WorkspaceError(f"Only work in progress can be skipped; this is {assignment.status}.")
    assignment.status = AssignmentStatus.SKIPPED
    assignment.skip_reason = reason[:2000]
    assignment.save(update_fields=["status", "skip_reason", "updated_at"])
    return assignment


def _reclaim_expired(assignment: Assignment) -> None:
    """A save on an expired claim takes its place back if the item still has room."""
    item_model = Trace if assignment.kind == ItemKind.GRADE else Problem
    item_pk = assignment.trace_id if assignment.kind == ItemKind.GRADE else assignment.problem_id
    assert item_pk is not None
    item_model.objects.select_for_update().filter(pk=item_pk).first()
    overlap = Project.objects.values_list("overlap", flat=True).get(pk=assignment.project_id)
    if not _place_is_free(assignment.kind, item_pk, overlap, assignment.pk):
        raise WorkspaceError(
            "Your claim on this item expired and others have taken its places; your draft is "
            "kept in this browser. Press Next for another item."
        )
    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.IN_PROGRESS)


# Versioned saves --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepGrade:
    rating: int | None
    unsure: bool
    critique: str = ""
    correction: str = ""


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


@cache
def _path_with_grades_sql() -> tuple[str, Selected, Selected]:
    step = Selected(TraceStep, "s", ("node", "position"))
    grade = Selected(Grade, "g", ("id", "rating", "unsure", "critique"))
    sql = (
        f"SELECT {step.sql}, {grade.sql} FROM {TraceStep._meta.db_table} s "
        f"LEFT JOIN {Grade._meta.db_table} g "
        "ON g.node_id = s.node_id AND g.source_id = %s AND g.is_current "
        "WHERE s.trace_id = %s AND s.on_path"
    )
    return sql, step, grade


def path_with_current_grades(
    trace_id: int, source: GradeSource
) -> tuple[dict[str, int], dict[uuid.UUID, Grade]]:
    """The position of each node on the trace's path and the source's current grade on it, in
    one fixed statement (a save runs this several times a minute per annotator)."""
    sql, step, grade = _path_with_grades_sql()
    positions: dict[str, int] = {}
    current: dict[uuid.UUID, Grade] = {}
    for row in fetch_all(sql, [source.pk, trace_id]):
        nid, position = step.values(row)
        positions[str(nid)] = position
        grade_id, rating, unsure, critique = grade.values(row, step.width)
        if grade_id is not None:
            current[nid] = Grade(
                id=grade_id, node_id=nid, rating=rating, unsure=unsure, critique=critique
            )
    return positions, current


# What a person's new grade sets; score, flagged and reason keep their database defaults.
NEW_GRADE_FIELDS = (
    "node",
    "source",
    "trace",
    "rating",
    "unsure",
    "critique",
    "is_current",
    "created_at",
)


def grades_write(
    *,
    source: GradeSource,
    trace_id: int,
    wanted: dict[uuid.UUID, StepGrade],
    with_critique: bool,
    current: dict[uuid.UUID, Grade] | None = None,
) -> int:
    """Versioned grade updates: a changed grade's current row becomes history, a new one is
    inserted. Returns how many grades were written (unchanged ones are not). `current`: the
    source's current grades on the wanted nodes when the caller has them already."""
    if not wanted:
        return 0
    if current is None:
        current = {
            g.node_id: g
            for g in Grade.objects.filter(source=source, node_id__in=wanted, is_current=True)
        }
    retire: list[int] = []
    fresh: list[tuple[Any, ...]] = []
    now = timezone.now()
    for nid, want in wanted.items():
        old = current.get(nid)
        critique = want.critique if with_critique else (old.critique if old else "")
        if old is not None and (old.rating, old.unsure, old.critique) == (
            want.rating,
            want.unsure,
            critique,
        ):
            continue
        if old is not None:
            retire.append(old.pk)
        if want.rating is not None:
            fresh.append((nid, source.pk, trace_id, want.rating, want.unsure, critique, True, now))
    # Every autosave of a grading item comes here: no ORM query building (see core/fixed_sql.py).
    if retire:
        execute(
            f"UPDATE {Grade._meta.db_table} SET is_current = %s "
            f"WHERE id IN ({', '.join(['%s'] * len(retire))})",
            [False, *retire],
        )
    insert_rows(Grade, NEW_GRADE_FIELDS, fresh)
    return len(fresh)


def _compare_and_swap(
    assignment: Assignment, *, version: Any, draft: dict[str, Any], time_spent_ms: int | None
) -> int:
    """Stores the draft as the next version if `version` is the stored one (one fixed UPDATE:
    every autosave runs it), else raises VersionConflict with the stored work."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkspaceError("version is missing: reload the page.")
    meta = Assignment._meta
    sql = (
        f"UPDATE {meta.db_table} SET version = version + 1, draft = %s, updated_at = %s, "
        "time_spent_ms = COALESCE(%s, time_spent_ms) WHERE id = %s AND version = %s"
    )
    params = [
        meta.get_field("draft").get_db_prep_save(draft, connection),
        meta.get_field("updated_at").get_db_prep_save(timezone.now(), connection),
        time_spent_ms,
        assignment.pk,
        version,
    ]
    if execute(sql, params) != 1:
        raise VersionConflict(Assignment.objects.get(pk=assignment.pk))
    return version + 1


def _check_writable(assignment: Assignment) -> None:
    if assignment.status == AssignmentStatus.SKIPPED:
        raise WorkspaceError("You skipped this item; it can no longer be changed.")
    if assignment.kind == ItemKind.RECORD and assignment.status == AssignmentStatus.SUBMITTED:
        raise WorkspaceError("This thought record was submitted; it can no longer be changed.")
    if assignment.status == AssignmentStatus.EXPIRED:
        _reclaim_expired(assignment)


def _commit_without_waiting_for_disk() -> None:
    """Autosaves commit asynchronously on PostgreSQL: a stall of the disk's flush (seen at up
    to a second on virtual disks) no longer holds every save. Only a crash of the database
    server can drop the last ~0.6 s of acknowledged autosaves; the editor still holds that
    state, and its next save answers 409 (it is ahead of the stored version) for "Keep mine".
    Submits always wait for the flush. STEPWISE_AUTOSAVE_ASYNC_COMMIT=false turns this off."""
    if connection.vendor == "postgresql" and settings.STEPWISE_AUTOSAVE_ASYNC_COMMIT:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@transaction.atomic
def assignment_save(
    *, assignment: Assignment, version: Any, draft: dict[str, Any], time_spent_ms: Any = None
) -> int:
    """Autosave: stores the draft if `version` is the stored one (else VersionConflict); for a
    grading item, the step ratings in it are written as versioned grades at once. Returns the
    new version."""
    _check_writable(assignment)
    _commit_without_waiting_for_disk()
    spent = _clean_time(time_spent_ms)
    if assignment.kind == ItemKind.GRADE:
        assert assignment.trace_id is not None
        source = human_source(user=assignment.annotator)
        positions, current = path_with_current_grades(assignment.trace_id, source)
        wanted = parse_step_grades(draft.get("grades"), positions)
        # Only the save that wins the version check goes on to write grades.
        new_version = _compare_and_swap(
            assignment, version=version, draft=draft, time_spent_ms=spent
        )
        grades_write(
            source=source,
            trace_id=assignment.trace_id,
            wanted=wanted,
            with_critique=False,
            current=current,
        )
        return new_version
    parse_thoughts(draft.get("thoughts"), strict=False)
    return _compare_and_swap(assignment, version=version, draft=draft, time_spent_ms=spent)


# Submits ----------------------------------------------------------------------------------


def _finish_reason(value: Any) -> str:
    if value not in FinishReason.values:
        raise WorkspaceError(f"Choose how the work ended: one of {', '.join(FinishReason.values)}.")
    return str(value)


@transaction.atomic
def grading_submit(
    *,
    assignment: Assignment,
    version: Any,
    draft: dict[str, Any],
    finish_reason: Any,
    time_spent_ms: Any = None,
) -> int:
    """Ends a grading item: every grade with its critique, corrected steps as +1 siblings."""
    _check_writable(assignment)
    assert assignment.trace_id is not None
    reason = _finish_reason(finish_reason)
    source = human_source(user=assignment.annotator)
    positions, current = path_with_current_grades(assignment.trace_id, source)
    wanted = parse_step_grades(draft.get("grades"), positions)
    by_position = sorted((positions[str(n)], g) for n, g in wanted.items())
    first_bad = next((p for p, g in by_position if g.rating == -1), None)
    if first_bad is not None and assignment.project.stop_at_first_bad_step:
        reason = FinishReason.FOUND_ERROR
    if reason == FinishReason.FOUND_ERROR and first_bad is None:
        raise WorkspaceError("Finishing with found_error needs a step rated -1.")
    if reason == FinishReason.SOLUTION:
        missing = sorted(
            p + 1
            for nid, p in positions.items()
            if uuid.UUID(nid) not in wanted or wanted[uuid.UUID(nid)].rating is None
        )
        if missing:
            raise WorkspaceError(
                f"Rate every step before finishing as solution; not rated: "
                f"{', '.join(map(str, missing))}."
            )
    for nid, grade in wanted.items():
        if grade.correction and grade.rating != -1:
            raise WorkspaceError(
                f"Step {positions[str(nid)] + 1}: a corrected step is only for a step rated -1."
            )
    new_version = _compare_and_swap(
        assignment, version=version, draft=draft, time_spent_ms=_clean_time(time_spent_ms)
    )
    grades_write(
        source=source,
        trace_id=assignment.trace_id,
        wanted=wanted,
        with_critique=True,
        current=current,
    )
    _write_corrections(assignment, source, wanted)
    now = timezone.now()
    Assignment.objects.filter(pk=assignment.pk).update(
        status=AssignmentStatus.SUBMITTED, finish_reason=reason, submitted_at=now
    )
    return new_version


def _write_corrections(
    assignment: Assignment, source: GradeSource, wanted: dict[uuid.UUID, StepGrade]
) -> None:
    bad = {nid: g.correction for nid, g in wanted.items() if g.correction}
    if not bad:
        return
    corrections: dict[uuid.UUID, StepGrade] = {}
    nodes = []
    for parent_id, depth, nid in StepNode.objects.filter(pk__in=bad).values_list(
        "parent_id", "depth", "id"
    ):
        text = bad[nid]
        sibling = node_id(assignment.problem_id, parent_id, StepKind.STEP, text)
        nodes.append(
            StepNode(
                id=sibling,
                problem_id=assignment.problem_id,
                parent_id=parent_id,
                depth=depth,
                kind=StepKind.STEP,
                text=text,
            )
        )
        corrections[sibling] = StepGrade(rating=1, unsure=False)
    StepNode.objects.bulk_create(nodes, ignore_conflicts=True)
    assert assignment.trace_id is not None
    grades_write(
        source=source, trace_id=assignment.trace_id, wanted=corrections, with_critique=True
    )


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


def record_submit(
    *,
    assignment: Assignment,
    version: Any,
    draft: dict[str, Any],
    finish_reason: Any,
    checklist: Any,
    time_spent_ms: Any = None,
) -> Trace:
    """Writes the thought record as a Trace(origin=thought_record) and checks its answer."""
    reason = _finish_reason(finish_reason)
    thoughts = parse_thoughts(draft.get("thoughts"), strict=True)
    if not thoughts:
        raise WorkspaceError("Write at least one thought before submitting.")
    answer = draft.get("final_answer") or ""
    if not isinstance(answer, str) or len(answer) > 1000:
        raise WorkspaceError("The final answer must be text of at most 1000 characters.")
    answer = answer.strip()
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
    _check_writable(assignment)
    _compare_and_swap(assignment, version=version, draft=draft, time_spent_ms=time_spent_ms)
    spent = time_spent_ms if time_spent_ms is not None else assignment.time_spent_ms
    trace = Trace.objects.create(
        problem_id=assignment.problem_id,
        origin=Origin.THOUGHT_RECORD,
        author_id=assignment.annotator_id,
        final_answer=answer,
        is_correct=is_correct,
        finish_reason=reason,
        time_spent_ms=spent,
    )
    nodes: list[StepNode] = []
    steps: list[TraceStep] = []
    parent: uuid.UUID | None = None
    for position, thought in enumerate(thoughts):
        nid = node_id(assignment.problem_id, parent, thought.kind, thought.text)
        nodes.append(
            StepNode(
                id=nid,
                problem_id=assignment.problem_id,
                parent_id=parent,
                depth=position + 1,
                kind=thought.kind,
                text=thought.text,
            )
        )
        steps.append(
            TraceStep(
                trace=trace, position=position, node_id=nid, backtrack_to=thought.backtrack_to
            )
        )
        parent = nid
    StepNode.objects.bulk_create(nodes, ignore_conflicts=True)
    TraceStep.objects.bulk_create(steps)
    Assignment.objects.filter(pk=assignment.pk).update(
        status=AssignmentStatus.SUBMITTED,
        finish_reason=reason,
        submitted_at=timezone.now(),
        record=trace,
    )
    return trace


# Reviews and gold -------------------------------------------------------------------------


@transaction.atomic
def assignment_review(
    *, assignment: Assignment, reviewer: Any, decision: str, comment: str
) -> Assignment:
    if decision not in ReviewStatus.values:
        raise WorkspaceError(f"Decide with one of {', '.join(ReviewStatus.values)}.")
    if assignment.status != AssignmentStatus.SUBMITTED:
        raise WorkspaceError("Only submitted work can be reviewed.")
    if assignment.annotator_id == reviewer.pk:
        raise WorkspaceError("You cannot review your own work; ask another reviewer.")
    comment = comment.strip()
    if decision == ReviewStatus.REJECTED and not comment:
        raise WorkspaceError("Say in the comment why the work is rejected.")
    assignment.review_status = decision
    assignment.review_comment = comment[:MAX_TEXT]
    assignment.reviewer = reviewer
    assignment.reviewed_at = timezone.now()
    assignment.save(
        update_fields=["review_status", "review_comment", "reviewer", "reviewed_at", "updated_at"]
    )
    return assignment


@transaction.atomic
def gold_mark(*, trace: Trace, source: GradeSource) -> GoldItem:
    """Makes a trace a quality-control item whose reference is `source`'s current grades."""
    if not Grade.objects.filter(trace=trace, source=source, is_current=True).exists():
        raise WorkspaceError(f"{source.name} has no grades on trace {trace.pk} to use as gold.")
    gold, _ = GoldItem.objects.update_or_create(trace=trace, defaults={"source": source})
    return gold
