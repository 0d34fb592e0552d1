"""The only writer of grade sources and grades: one constructor per source kind, and one
write per kind whose versioning policy is its own (docs/architecture.md, "Who writes what").

- a person: a changed grade retires the current one (kept as history) and a new version is
  inserted; a cleared rating retires it (`person_grades_write`, the autosave's fixed
  statements); when the person's own path leaves the trace they grade, their current grades
  given in that trace are given in their path from then on (`person_grades_retrace`: the
  trace they point at changes, no version is added);
- a model run (PRM or judge): one score per node and run; the first write wins and a re-run of
  the same run writes nothing (`run_scores_write`);
- Monte-Carlo rollouts: a label that exists is kept, except that a measured label replaces an
  inferred one, which becomes history (`monte_carlo_labels_write`);
- an imported dataset: every grade in the file is kept as imported; the first per (node,
  source) is current and later ones are history (`imported_grades_copy`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotation.core.bulk import RowEncoder, insert_encoded, insert_rows
from annotation.core.fixed_sql import execute
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.grading.selectors import CurrentGrade, current_grades

if TYPE_CHECKING:
    from annotation.jobs.models import Job

# The reason of a Monte-Carlo label inferred by the binary search rather than rolled out.
INFERRED = "inferred"


# Sources ----------------------------------------------------------------------------------


def person_source(*, user: Any) -> GradeSource:
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


def _job_source(job: Job, kind: SourceKind, description: str) -> GradeSource:
    source, _ = GradeSource.objects.get_or_create(
        job=job, defaults={"kind": kind, "name": f"{kind} job {job.pk}: {description}"}
    )
    return source


def model_run_source(*, job: Job, label: str) -> GradeSource:
    """The source of a process reward model's run (one per job)."""
    return _job_source(job, SourceKind.PRM, label)


def judge_source(*, job: Job, label: str) -> GradeSource:
    """The source of an LLM judge's run (one per job)."""
    return _job_source(job, SourceKind.JUDGE, label)


def monte_carlo_source(*, job: Job, description: str) -> GradeSource:
    """The source of a Monte-Carlo labeling job (one per job)."""
    return _job_source(job, SourceKind.MONTE_CARLO, description)


def dataset_source(*, name: str) -> GradeSource:
    """The source of an imported dataset's grades (PRM800K: one per labeler), by name."""
    source, _ = GradeSource.objects.get_or_create(name=name, defaults={"kind": SourceKind.DATASET})
    return source


# A person's grades: versions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepGrade:
    rating: int | None
    unsure: bool
    critique: str = ""
    correction: str = ""


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


def person_grades_write(
    *,
    source: GradeSource,
    trace_id: int,
    wanted: dict[uuid.UUID, StepGrade],
    with_critique: bool,
    current: Mapping[uuid.UUID, CurrentGrade] | None = None,
) -> int:
    """Versioned grade updates: a changed grade's current row becomes history, a new one is
    inserted. Returns how many grades were written (unchanged ones are not). `current`: the
    source's current grades on the wanted nodes when the caller has them already."""
    if not wanted:
        return 0
    if current is None:
        current = {
            node: CurrentGrade(pk, rating, unsure, critique)
            for node, pk, rating, unsure, critique in current_grades()
            .filter(source=source, node_id__in=wanted)
            .values_list("node_id", "pk", "rating", "unsure", "critique")
        }
    retire: list[int] = []
    fresh: list[tuple[uuid.UUID, int, bool, str]] = []  # node, rating, unsure, critique
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
            fresh.append((nid, want.rating, want.unsure, critique))
    # Every autosave of a grading item comes here: no ORM query building (see core/fixed_sql.py).
    if connection.vendor == "postgresql":
        _person_grades_statement(retire, fresh, source_id=source.pk, trace_id=trace_id, now=now)
        return len(fresh)
    if retire:
        execute(
            f"UPDATE {Grade._meta.db_table} SET is_current = %s "
            f"WHERE id IN ({', '.join(['%s'] * len(retire))})",
            [False, *retire],
        )
    insert_rows(
        Grade,
        NEW_GRADE_FIELDS,
        [(node, source.pk, trace_id, *grade, True, now) for node, *grade in fresh],
    )
    return len(fresh)


def _person_grades_statement(
    retire: list[int],
    fresh: list[tuple[uuid.UUID, int, bool, str]],
    *,
    source_id: int,
    trace_id: int,
    now: Any,
) -> None:
    """PostgreSQL: the retired versions and the new ones in one statement, one round trip to
    the server (an autosave's UPDATE and COPY were three: each a wait for the server, and on a
    busy machine a wait to be scheduled again). The new rows come as arrays, one per column;
    the UPDATE runs first (its row count is a one-time filter of the INSERT, so it is done
    before the first new row checks the one-current-grade index)."""
    if not retire and not fresh:
        return
    table = Grade._meta.db_table
    update = f"UPDATE {table} SET is_current = false WHERE id = ANY(%s::bigint[])"
    if not fresh:
        execute(update, [retire])
        return
    column_of = {field.name: str(field.column) for field in Grade._meta.concrete_fields}
    columns = ", ".join(column_of[name] for name in NEW_GRADE_FIELDS)
    insert = (
        f"INSERT INTO {table} ({columns}) "
        "SELECT v.node, %s, %s, v.rating, v.unsure, v.critique, true, %s "
        "FROM unnest(%s::uuid[], %s::smallint[], %s::boolean[], %s::text[]) "
        "AS v(node, rating, unsure, critique)"
    )
    params = [source_id, trace_id, now, *(list(column) for column in zip(*fresh, strict=True))]
    if not retire:
        execute(insert, params)
        return
    execute(
        f"WITH retired AS ({update} RETURNING id) {insert} "
        "WHERE (SELECT count(*) FROM retired) >= 0",
        [retire, *params],
    )


def person_grades_retrace(*, source: GradeSource, from_trace_id: int, to_trace_id: int) -> int:
    """The person's current grades given in one trace, given in another from now on (their own
    path, origin labeled, made from it). Returns how many."""
    return (
        current_grades().filter(source=source, trace_id=from_trace_id).update(trace_id=to_trace_id)
    )


# A model run's scores: one per node and run -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    node_id: uuid.UUID
    trace_id: int | None  # the trace it was given in; None for a tree node
    score: float
    reason: str = ""  # an LLM judge's


def run_scores_write(
    *, source: GradeSource, scores: Iterable[Score], batch_size: int | None = None
) -> int:
    """A score per node: a node the run scored already (earlier in `scores`, an earlier
    delivery, or a trace sharing the prefix) keeps its score. Returns the grades offered."""
    grades: dict[uuid.UUID, Grade] = {}
    for item in scores:
        if item.node_id not in grades:
            grades[item.node_id] = Grade(
                node_id=item.node_id,
                source=source,
                trace_id=item.trace_id,
                score=item.score,
                reason=item.reason,
            )
    created = Grade.objects.bulk_create(
        grades.values(), ignore_conflicts=True, batch_size=batch_size
    )
    return len(created)


# Monte-Carlo labels: measured replace inferred ---------------------------------------------


class MonteCarloLabel(Protocol):
    @property
    def trace_id(self) -> int: ...
    @property
    def rating(self) -> int: ...
    @property
    def score(self) -> float | None: ...
    @property
    def inferred(self) -> bool: ...


def monte_carlo_labels_write(
    *, source: GradeSource, labels: Mapping[uuid.UUID, MonteCarloLabel]
) -> int:
    """Add the labels the source does not have; an evaluated label replaces an inferred one."""
    with transaction.atomic():
        existing = dict(
            Grade.objects.select_for_update()
            .filter(source=source, is_current=True, node_id__in=list(labels))
            .values_list("node_id", "reason")
        )
        upgraded = [
            node
            for node, reason in existing.items()
            if reason == INFERRED and not labels[node].inferred
        ]
        if upgraded:
            Grade.objects.filter(source=source, is_current=True, node_id__in=upgraded).update(
                is_current=False
            )
        created = Grade.objects.bulk_create(
            [
                Grade(
                    node_id=node,
                    source=source,
                    trace_id=label.trace_id,
                    rating=label.rating,
                    score=label.score,
                    reason=INFERRED if label.inferred else "",
                )
                for node, label in labels.items()
                if node not in existing or node in upgraded
            ],
            ignore_conflicts=True,
        )
    return len(created)


# Imported grades: kept as imported ---------------------------------------------------------

# An imported grade's row: (node, source id, trace id, rating, flagged, is_current, created_at).
IMPORTED_GRADE_FIELDS = ("node", "source", "trace", "rating", "flagged", "is_current", "created_at")


def imported_grades_copy(grades: Sequence[list[Any]], new_nodes: set[Any]) -> int:
    """Write an import chunk's grades (rows in IMPORTED_GRADE_FIELDS order, is_current to be
    set here) with COPY; returns how many. The first grade per (node, source) is current and
    later ones are history. Only nodes that existed before this chunk (not in `new_nodes`) can
    have grades in the database already."""
    _mark_history(grades, new_nodes)
    insert_rows(Grade, IMPORTED_GRADE_FIELDS, (tuple(g) for g in grades))
    return len(grades)


def _mark_history(grades: Sequence[list[Any]], new_nodes: set[Any]) -> None:
    """The first grade per (node, source) is current; later ones are history.

    Only nodes that existed before this chunk can have grades in the database. The
    rows are updated in place.
    """
    old = [g for g in grades if g[0] not in new_nodes]
    current = set()
    if old:
        current = set(
            Grade.objects.filter(
                is_current=True,
                node_id__in={g[0] for g in old},
                source_id__in={g[1] for g in old},
            ).values_list("node_id", "source_id")
        )
    for grade in grades:
        key = (grade[0], grade[1])
        grade[5] = key not in current
        current.add(key)


# The same, for rows encoded ahead (core/bulk.py `RowEncoder`), in blocks of one trace's grades:
# is_current set as if the block's chunk were all new (the first grade per (node, source) in
# the chunk), and set again here when it is not.
IMPORTED_GRADE_ROW = ("trace", "node", "source", "rating", "is_current", "created_at", "flagged")
# In a binary COPY row of that layout (a field: 4 bytes of length, then the value; rating is
# never null in an imported grade), where the node, the source and is_current's value are,
# and where flagged's length is, the one field whose size varies (null: -1, no value).
_NODE, _SOURCE, _IS_CURRENT, _FLAGGED_LENGTH = slice(18, 34), slice(38, 46), 56, slice(69, 73)
_ROW_WITH_NULL = 73
_NULL = b"\xff\xff\xff\xff"


def imported_grade_encoder(*, binary: bool) -> RowEncoder:
    return RowEncoder(Grade, IMPORTED_GRADE_ROW, binary=binary)


def imported_grades_insert(blocks: Sequence[Any]) -> None:
    """Write encoded grades (blocks by `imported_grade_encoder`) as they are: right when their
    nodes are all new and their chunk is written whole."""
    insert_encoded(Grade, IMPORTED_GRADE_ROW, blocks)


def imported_grades_insert_exactly(blocks: Sequence[Any], new_nodes: set[Any]) -> int:
    """Write encoded grades with is_current set as `imported_grades_copy` does: the first
    grade per (node, source) is current, later ones (and those of a node with a current grade
    from that source already) are history. Only nodes not in `new_nodes` can have grades in
    the database. Returns how many."""
    rows = [row for block in blocks for row in _rows(block)]
    if not rows:  # a chunk of traces with no grade: nothing to write (COPY takes no empty list)
        return 0
    keys = [_key(row) for row in rows]
    old = {key for key in keys if key[0] not in new_nodes}
    current: set[tuple[Any, int]] = set()
    if old:
        as_bytes = isinstance(next(iter(old))[0], bytes)
        found = Grade.objects.filter(
            is_current=True,
            node_id__in={node if not as_bytes else uuid.UUID(bytes=node) for node, _ in old},
            source_id__in={source for _, source in old},
        ).values_list("node_id", "source_id")
        current = {(node.bytes if as_bytes else node, source) for node, source in found}
    chosen = []
    for row, key in zip(rows, keys, strict=True):
        chosen.append(_with_is_current(row, key not in current))
        current.add(key)
    binary = not isinstance(rows[0], tuple)
    insert_encoded(Grade, IMPORTED_GRADE_ROW, chosen if binary else [chosen])
    return len(rows)


def _rows(block: Any) -> list[Any]:
    """The rows of a block: tuples as they are, binary rows cut where each ends."""
    if isinstance(block, list):
        return list(block)
    block = bytes(block)  # a bytearray's slices cannot be keys
    rows, start = [], 0
    while start < len(block):
        end = start + _ROW_WITH_NULL
        if block[start + _FLAGGED_LENGTH.start : start + _FLAGGED_LENGTH.stop] != _NULL:
            end += 1
        rows.append(block[start:end])
        start = end
    return rows


def _key(row: Any) -> tuple[Any, int]:
    if isinstance(row, tuple):
        return row[1], row[2]
    return row[_NODE], int.from_bytes(row[_SOURCE], "big", signed=True)


def _with_is_current(row: Any, is_current: bool) -> Any:
    if isinstance(row, tuple):
        return (*row[:4], is_current, *row[5:])
    return row[:_IS_CURRENT] + (b"\x01" if is_current else b"\x00") + row[_IS_CURRENT + 1 :]
