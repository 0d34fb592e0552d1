"""One long thought with its steps, siblings and transcript; the actions it records; a
problem's long thoughts, named and paired for the side-by-side page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import path
from annotation.trees.models import SteeredLoop
from annotation.trees.selectors.methods import (
    LONG_THOUGHT_ORIGINS,
    METHODS,
    STEERED_KINDS,
    method_of,
)


@dataclass
class ThoughtStep:
    position: int
    kind: str
    text: str
    tree_index: int | None


@dataclass
class ThoughtView:
    trace: Trace
    steps: list[ThoughtStep] = field(default_factory=list)
    tree_job_id: int | None = None
    related: dict[str, int] = field(default_factory=dict)  # kind -> trace id
    method: str | None = None
    # a steered loop's transcript: (role, outcome, text) per turn
    transcript: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def method_label(self) -> str:
        return METHODS[self.method] if self.method is not None else "—"


def long_thought_view(trace: Trace) -> ThoughtView:
    """A long thought (or shortcut) with each step's tree node index, its sibling traces
    (shortcut, draft, rewrite) of the same job and problem, its method and, for a loop the
    model steered, the loop's transcript."""
    rows = [(step.position, step.kind, step.text) for step in path(trace.pk)]
    meta = trace.metadata or {}
    kind = meta.get("kind")
    indexes: list[int | None]
    if kind == "draft" or kind in STEERED_KINDS:
        indexes = list(meta.get("tree_nodes", []))
    elif kind == "shortcut":
        indexes = list(meta.get("walked", []))
    else:
        indexes = []
    indexes += [None] * (len(rows) - len(indexes))
    view = ThoughtView(
        trace=trace,
        steps=[
            ThoughtStep(position, kind_, text, indexes[i])
            for i, (position, kind_, text) in enumerate(rows)
        ],
        tree_job_id=meta.get("tree_job"),
        method=method_of(trace),
    )
    if view.method in STEERED_KINDS and trace.job_id is not None:
        turns = (
            SteeredLoop.objects.filter(job_id=trace.job_id, problem_id=trace.problem_id)
            .values_list("turns", flat=True)
            .first()
        )
        view.transcript = [
            (str(t.get("role", "")), str(t.get("outcome", "")), str(t.get("text", "")))
            for t in turns or []
            if isinstance(t, dict)
        ]
    if trace.job_id is not None and trace.external_id:
        base = trace.external_id.rsplit(":", 1)[0]
        for tid, key in Trace.objects.filter(
            job_id=trace.job_id, external_id__startswith=f"{base}:"
        ).values_list("pk", "external_id"):
            view.related[(key or "").rsplit(":", 1)[1]] = tid
    return view


@dataclass(frozen=True)
class Actions:
    """The reflections and backtracks a long thought made (its method's own count)."""

    reflections: int
    backtracks: int
    wrong_answers: int | None = None  # known for the loops the model steered


def actions_of(trace: Trace) -> Actions | None:
    """What a long thought records of its actions: a steered loop its counts; a tree-derived
    draft (or its rewrite) one reflection and one way back per dead end; None otherwise (a
    shortcut, an expansion)."""
    meta = trace.metadata or {}
    counts = meta.get("counts")
    if trace.origin != Origin.LONG_THOUGHT:
        return None
    if meta.get("method") in STEERED_KINDS and isinstance(counts, dict):
        return Actions(
            int(counts.get("reflections", 0)),
            int(counts.get("backtracks", 0)),
            int(counts.get("wrong_answers", 0)),
        )
    wrong_leaves = meta.get("wrong_leaves")
    if isinstance(wrong_leaves, int):
        return Actions(wrong_leaves, wrong_leaves)
    return None


def problem_long_thoughts(problem: Problem) -> list[Trace]:
    """Every long thought of a problem, whatever its method, oldest first."""
    return list(
        Trace.objects.filter(problem=problem, origin__in=LONG_THOUGHT_ORIGINS)
        .select_related("job")
        .order_by("id")
    )


def thought_label(trace: Trace) -> str:
    """How a long thought is named in a list of one problem's: method, kind, id, job."""
    method = method_of(trace)
    name = METHODS[method] if method is not None else trace.get_origin_display()
    kind = (trace.metadata or {}).get("kind")
    detail = f" · {kind}" if method == "tree" and kind else ""
    job = f" (job #{trace.job_id})" if trace.job_id is not None else ""
    return f"{name}{detail} #{trace.pk}{job}"


def default_pair(thoughts: Sequence[Trace]) -> tuple[Trace | None, Trace | None]:
    """Two long thoughts to put side by side when none are chosen: the first of the first two
    methods (two of the same method when there is only one)."""
    firsts: dict[str | None, Trace] = {}
    for trace in thoughts:
        firsts.setdefault(method_of(trace), trace)
    chosen = list(firsts.values())[:2]
    if len(chosen) < 2:
        chosen = list(thoughts[:2])
    return (chosen[0] if chosen else None, chosen[1] if len(chosen) > 1 else None)
