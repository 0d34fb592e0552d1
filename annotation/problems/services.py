"""The only writer of the step tree: step nodes, traces and their steps.

Every row is built from `tree.place_steps`, the one function that turns a trace's steps into
node ids, parents and depths: the ORM writers here for workspace, job and tree writes, and
the importer's COPY (`imported_*_insert`), which the importer feeds chunk by chunk with rows
its parsing side encoded from `place_steps_as_bytes` (datasets/rows.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connection
from django.db.models import Field

from annotation.core.bulk import (
    RowEncoder,
    insert_encoded,
    insert_new_encoded,
    insert_rows,
    reserve_ids,
)
from annotation.core.text_policy import without_invisible
from annotation.problems.models import StepKind, StepNode, Trace, TraceStep
from annotation.problems.tree import place_steps


@dataclass(frozen=True, slots=True)
class NewStep:
    """A step to show at a position of a new trace."""

    position: int
    text: str
    kind: str = StepKind.STEP
    option: int | None = None  # index among the alternatives at the position; None: written
    on_path: bool = True
    backtrack_to: int | None = None
    extra: dict[str, Any] | None = None


def path_steps(texts: Iterable[str], kind: str = StepKind.STEP) -> list[NewStep]:
    """One path step per text, in order."""
    return [NewStep(position, text, kind) for position, text in enumerate(texts)]


@dataclass(slots=True)
class NewTrace:
    """A trace to write: its fields and its steps (ordered by position)."""

    problem_id: int
    origin: str
    steps: Sequence[NewStep]
    # Path positions shown by nodes that are in the tree already (a long thought's walk).
    existing_nodes: Mapping[int, uuid.UUID] = field(default_factory=dict)
    external_id: str | None = None
    author_id: int | None = None
    job_id: int | None = None
    source_trace_id: int | None = None
    final_answer: str | None = None
    is_correct: bool | None = None
    finish_reason: str | None = None
    time_spent_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewNode:
    """A step node of a tree that is not a trace's (a reasoning tree's, a corrected step)."""

    id: uuid.UUID
    problem_id: int
    parent_id: uuid.UUID | None
    depth: int
    text: str
    kind: str = StepKind.STEP


def nodes_write(nodes: Iterable[NewNode], *, batch_size: int | None = None) -> None:
    """Write step nodes; one that exists (same problem, prefix, kind, text) is left as is."""
    StepNode.objects.bulk_create(
        (
            StepNode(
                id=n.id,
                problem_id=n.problem_id,
                parent_id=n.parent_id,
                depth=n.depth,
                kind=n.kind,
                text=n.text,
            )
            for n in nodes
        ),
        ignore_conflicts=True,
        batch_size=batch_size,
    )


def traces_write(traces: Sequence[NewTrace]) -> list[Trace]:
    """Write traces, their new step nodes (shared prefixes once) and their steps; returns the
    traces in order. Call inside a transaction."""
    rows = Trace.objects.bulk_create(
        Trace(
            problem_id=t.problem_id,
            origin=t.origin,
            external_id=t.external_id,
            author_id=t.author_id,
            job_id=t.job_id,
            source_trace_id=t.source_trace_id,
            # "42" + U+200B is the answer "42", whoever wrote it (core/text_policy.py)
            final_answer=without_invisible(t.final_answer) if t.final_answer else t.final_answer,
            is_correct=t.is_correct,
            finish_reason=t.finish_reason,
            time_spent_ms=t.time_spent_ms,
            metadata=t.metadata,
        )
        for t in traces
    )
    nodes: dict[uuid.UUID, NewNode] = {}
    steps: list[TraceStep] = []
    for trace, row in zip(traces, rows, strict=True):
        steps += _placed(row.pk, trace.problem_id, trace.steps, trace.existing_nodes, nodes)
    nodes_write(nodes.values())
    TraceStep.objects.bulk_create(steps)
    return rows


def _placed(
    trace_id: int,
    problem_id: int,
    steps: Sequence[NewStep],
    existing: Mapping[int, uuid.UUID],
    nodes: dict[uuid.UUID, NewNode],
) -> list[TraceStep]:
    """The trace's step rows; the nodes they need that are not `existing` go into `nodes`."""
    rows = []
    for step, nid, parent, depth in place_steps(problem_id, steps, existing):
        if not (step.on_path and step.position in existing):
            nodes.setdefault(nid, NewNode(nid, problem_id, parent, depth, step.text, step.kind))
        rows.append(
            TraceStep(
                trace_id=trace_id,
                position=step.position,
                node_id=nid,
                option=step.option,
                on_path=step.on_path,
                backtrack_to=step.backtrack_to,
                extra=step.extra,
            )
        )
    return rows


def trace_steps_replace(
    *,
    trace_id: int,
    problem_id: int,
    steps: Sequence[NewStep],
    existing_nodes: Mapping[int, uuid.UUID] | None = None,
) -> None:
    """Show `steps` in the trace instead of what it showed: an annotator's own path (origin
    labeled) as they choose, write and continue. Nodes stay in the tree; grades are not
    touched. Call inside a transaction."""
    TraceStep.objects.filter(trace_id=trace_id).delete()
    nodes: dict[uuid.UUID, NewNode] = {}
    rows = _placed(trace_id, problem_id, steps, existing_nodes or {}, nodes)
    nodes_write(nodes.values())
    TraceStep.objects.bulk_create(rows)


def trace_create(trace: NewTrace) -> Trace:
    return traces_write([trace])[0]


# The importer's COPY ------------------------------------------------------------------------

# Row layouts of the importer's COPY (tuples in this order; JSON fields take Python objects).
TRACE_FIELDS = (
    "id",
    "problem",
    "origin",
    "external_id",
    "final_answer",
    "is_correct",
    "finish_reason",
    "time_spent_ms",
    "metadata",
    "created_at",
)
NODE_FIELDS = ("id", "problem", "parent", "depth", "kind", "text", "created_at")
TRACE_STEP_FIELDS = ("trace", "position", "node", "option", "on_path", "extra")


def imported_traces_copy(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Write an import chunk's traces: rows in TRACE_FIELDS order without the id (taken from
    the sequence, so that COPY can write them); returns their ids in order."""
    if connection.vendor != "postgresql":
        fields = TRACE_FIELDS[1:-1]  # created_at: auto_now_add
        return [
            t.pk
            for t in Trace.objects.bulk_create(
                Trace(**{_attname(Trace, f): v for f, v in zip(fields, row[:-1], strict=True)})
                for row in rows
            )
        ]
    ids = reserve_ids(Trace, len(rows))
    insert_rows(Trace, TRACE_FIELDS, ((pk, *row) for pk, row in zip(ids, rows, strict=True)))
    return ids


# Rows encoded ahead, by an import's parsing process (core/bulk.py `RowEncoder`), in the layouts
# above, in blocks (`RowEncoder.join`).


def imported_trace_encoder(*, binary: bool) -> RowEncoder:
    return RowEncoder(Trace, TRACE_FIELDS, binary=binary)


def imported_node_encoder(*, binary: bool) -> RowEncoder:
    return RowEncoder(StepNode, NODE_FIELDS, binary=binary)


def imported_step_encoder(*, binary: bool) -> RowEncoder:
    return RowEncoder(TraceStep, TRACE_STEP_FIELDS, binary=binary)


def imported_traces_insert(blocks: Sequence[Any]) -> None:
    """Write encoded traces, their ids taken beforehand (`reserve_ids`)."""
    insert_encoded(Trace, TRACE_FIELDS, blocks)


def imported_nodes_insert(rows: dict[Any, Any], *, expect_new: bool) -> set[Any]:
    """Write the nodes (encoded rows keyed by id) that are not there yet, locking those that
    are (`core.bulk.insert_new_encoded`); returns the ids that were new."""
    return insert_new_encoded(StepNode, NODE_FIELDS, rows, expect_new=expect_new)


def imported_steps_insert(blocks: Sequence[Any]) -> None:
    insert_encoded(TraceStep, TRACE_STEP_FIELDS, blocks)


def _attname(model: type[Trace], name: str) -> str:
    return cast("Field[Any, Any]", model._meta.get_field(name)).attname
