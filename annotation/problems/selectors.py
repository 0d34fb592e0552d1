"""The reads of the step tree: the path of a trace, and traces with their steps and grades.

Every "what is the path of this trace" question is answered here, so the rule (the rows with
on_path, by position) lives in one place.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Count, Exists, OuterRef, QuerySet

from annotation.core.fixed_sql import Selected, fetch_all_without_jit
from annotation.grading.selectors import ELIGIBLE, Eligibility, GradedKey, GradeView, StepKey
from annotation.grading.step_grades import GradeChoice, GradeDecoder, column
from annotation.problems.models import Problem, ProjectSize, StepNode, Trace, TraceStep

# Paths ------------------------------------------------------------------------------------


@dataclass(slots=True)
class PathNode:
    position: int
    node_id: UUID
    text: str
    kind: str
    backtrack_to: int | None


def path_node_ids(trace_ids: Iterable[int]) -> dict[int, list[UUID]]:
    """The path nodes of each trace, in order (one query); traces without steps are absent."""
    found: dict[int, list[UUID]] = defaultdict(list)
    rows = (
        TraceStep.objects.filter(trace_id__in=list(trace_ids), on_path=True)
        .order_by("trace_id", "position")
        .values_list("trace_id", "node_id")
    )
    for trace_id, node in rows:
        found[trace_id].append(node)
    return dict(found)


def paths(trace_ids: Iterable[int]) -> dict[int, list[PathNode]]:
    """The path of each trace with its texts and kinds, in order (one query)."""
    found: dict[int, list[PathNode]] = defaultdict(list)
    rows = (
        TraceStep.objects.filter(trace_id__in=list(trace_ids), on_path=True)
        .order_by("trace_id", "position")
        .values_list("trace_id", "position", "node_id", "node__text", "node__kind", "backtrack_to")
    )
    for trace_id, position, node, text, kind, backtrack_to in rows:
        found[trace_id].append(PathNode(position, node, text, kind, backtrack_to))
    return dict(found)


def path(trace_id: int) -> list[PathNode]:
    """The path of one trace (one query)."""
    return paths([trace_id]).get(trace_id, [])


def path_mentions(text: str) -> Exists:
    """A filter of a Trace queryset: a step on the trace's path contains `text` (any case)."""
    return Exists(
        TraceStep.objects.filter(trace=OuterRef("pk"), on_path=True, node__text__icontains=text)
    )


def trace_texts(trace_ids: Sequence[int]) -> dict[int, str]:
    """Each trace's path texts joined by blank lines (one query)."""
    return {
        tid: "\n\n".join(step.text for step in steps) for tid, steps in paths(trace_ids).items()
    }


# Traces with their steps and grades ---------------------------------------------------------


@dataclass(slots=True)
class StepView:
    position: int
    option: int | None
    on_path: bool
    text: str
    kind: str
    extra: dict[str, Any] | None
    grade: GradeView | None
    node_id: UUID | None = None


@dataclass(slots=True)
class TraceView:
    trace: Trace
    steps: list[StepView] = field(default_factory=list)  # by position, then option
    prompt: str | None = None  # the prompt its model saw, when an export looked it up
    grader: int = 0  # the source whose grades the view holds (0: a loader's selection)
    # The person's work behind the grades, when the grader is an annotator who claimed the
    # trace (annotation/workspace/exports.py): finish reason, time spent, submit time, purpose.
    labeling: dict[str, Any] | None = None
    # Whether the grader's labels may teach a model (annotation/grading/eligibility.py).
    eligibility: Eligibility = ELIGIBLE

    @property
    def path(self) -> list[StepView]:
        return [s for s in self.steps if s.on_path]

    @property
    def n_positions(self) -> int:
        return self.steps[-1].position + 1 if self.steps else 0

    def at(self, position: int) -> list[StepView]:
        return [s for s in self.steps if s.position == position]

    @property
    def grader_name(self) -> str | None:
        return next((s.grade.source_name for s in self.steps if s.grade), None)

    def first_error(self) -> int:
        """Index on the path of the first step graded -1, or -1 when there is none."""
        for index, step in enumerate(self.path):
            if step.grade is not None and step.grade.rating == -1:
                return index
        return -1


# Given the (trace, node) pairs of a chunk, the grades to show, keyed (trace, node, grader).
GradeLoader = Callable[[set[StepKey]], dict[GradedKey, GradeView]]


def no_grades(keys: set[StepKey]) -> dict[GradedKey, GradeView]:
    return {}


def load_trace_views(traces: Sequence[Trace], grades: GradeLoader = no_grades) -> list[TraceView]:
    """Steps, then their nodes' texts, then the grades `grades` selects: three queries.

    A trace comes back once per grader the loader names in it (each view with that grader's
    grades only; grader 0 is "the selection" of a loader that gives one grade per step), and
    once without grades when it has none.

    Nodes are fetched by primary key rather than joined: each query then has one plan
    (index lookups) whatever the table statistics say, and a node shared by many traces of
    the chunk is read once.
    """
    steps = list(
        TraceStep.objects.filter(trace_id__in=[t.pk for t in traces])
        .order_by("trace_id", "position", "option")
        .values_list("trace_id", "position", "option", "on_path", "extra", "node_id")
    )
    nodes: dict[UUID, tuple[str, str]] = {
        node_id: (text, kind)
        for node_id, text, kind in StepNode.objects.filter(
            id__in={row[5] for row in steps}
        ).values_list("id", "text", "kind")
    }
    graded = grades({(row[0], row[5]) for row in steps}) if steps else {}
    graders: dict[int, set[int]] = defaultdict(set)
    for trace_id, _, grader in graded:
        graders[trace_id].add(grader)
    by_trace: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in steps:
        by_trace[row[0]].append(row)
    views = []
    for trace in traces:
        for grader in sorted(graders.get(trace.pk) or {0}):
            views.append(
                TraceView(
                    trace=trace,
                    grader=grader,
                    steps=[
                        StepView(
                            position,
                            option,
                            on_path,
                            *nodes[node_id],
                            extra,
                            graded.get((trace_id, node_id, grader)),
                            node_id,
                        )
                        for trace_id, position, option, on_path, extra, node_id in by_trace[
                            trace.pk
                        ]
                    ],
                )
            )
    return views


# The same views, built by PostgreSQL ----------------------------------------------------------


@cache
def _view_parts() -> tuple[Selected, Selected, Selected]:
    """The trace, its problem, and its source trace's metadata (a PRM800K row's frame)."""
    return Selected(Trace, "t"), Selected(Problem, "p"), Selected(Trace, "src", ("id", "metadata"))


def aggregated_trace_views(
    page: QuerySet[Trace], grades: GradeChoice, decode: GradeDecoder | None = None
) -> list[TraceView]:
    """The views load_trace_views(list(page), grades.loader()) gives, ordered by (problem,
    trace, grader), from one statement on PostgreSQL (aggregated_trace_rows). The views
    carry no node ids (exports do not read them). `decode` (grades.decoder()) can be kept
    across chunks, so that each grade source's name is read once."""
    return aggregated_trace_rows(page, grades).views(decode or grades.decoder())


def aggregated_trace_rows(page: QuerySet[Trace], grades: GradeChoice) -> AggregatedRows:
    """Runs the one statement (PostgreSQL) behind aggregated_trace_views: the traces of
    `page` (any filtered, ordered and sliced queryset) with their problems, each with its
    steps, node texts and kinds and each step's grades aggregated into one JSON array.
    Every join is a lookup by index from one trace or step (a trace's own grades: one
    index range per trace), so the plan does not depend on the table statistics."""
    trace, problem, source = _view_parts()
    page_sql, page_params = page.values_list("pk").query.sql_with_params()

    def col(model: type[Trace | Problem | TraceStep | StepNode], name: str, alias: str) -> str:
        return column(model, name, alias)

    grade_join, grade_params = grades.step_join("s", col(Trace, "id", "t"))

    step = (
        f"{col(TraceStep, 'position', 's')}, {col(TraceStep, 'option', 's')}, "
        f"{col(TraceStep, 'on_path', 's')}, {col(StepNode, 'text', 'n')}, "
        f"{col(StepNode, 'kind', 'n')}, {col(TraceStep, 'extra', 's')}, c.grades"
    )
    order = f"{col(TraceStep, 'position', 's')}, {col(TraceStep, 'option', 's')}"
    sql = (
        f"SELECT {trace.sql}, {problem.sql}, {source.sql}, st.steps::text "
        f"FROM ({page_sql}) AS page(id) "
        f"JOIN {Trace._meta.db_table} t ON {col(Trace, 'id', 't')} = page.id "
        f"JOIN {Problem._meta.db_table} p "
        f"ON {col(Problem, 'id', 'p')} = {col(Trace, 'problem', 't')} "
        f"LEFT JOIN {Trace._meta.db_table} src "
        f"ON {col(Trace, 'id', 'src')} = {col(Trace, 'source_trace', 't')} "
        "LEFT JOIN LATERAL ("
        f"SELECT json_agg(json_build_array({step}) ORDER BY {order}) AS steps "
        f"FROM {TraceStep._meta.db_table} s JOIN {StepNode._meta.db_table} n "
        f"ON {col(StepNode, 'id', 'n')} = {col(TraceStep, 'node', 's')} "
        f"{grade_join} "
        f"WHERE {col(TraceStep, 'trace', 's')} = {col(Trace, 'id', 't')}"
        ") AS st ON true "
        f"ORDER BY {col(Trace, 'problem', 't')}, {col(Trace, 'id', 't')}"
    )
    return AggregatedRows(fetch_all_without_jit(sql, [*page_params, *grade_params]))


@dataclass(frozen=True)
class AggregatedRows:
    """aggregated_trace_rows' result, as it came from the database."""

    rows: list[tuple[Any, ...]]

    @property
    def last(self) -> tuple[int, int] | None:
        """(problem id, trace id) of the last trace: where the next keyset chunk starts."""
        if not self.rows:
            return None
        trace, _, _ = _view_parts()
        return self.rows[-1][trace.width], self.rows[-1][0]

    def views(self, decode: GradeDecoder) -> list[TraceView]:
        trace, problem, source = _view_parts()
        problems: dict[int, Problem] = {}
        views: list[TraceView] = []
        problem_at, source_at = trace.width, trace.width + problem.width
        for row in self.rows:
            current: Trace = trace.instance(row)  # type: ignore[assignment]
            problem_id = row[problem_at]
            if problem_id not in problems:
                problems[problem_id] = problem.instance(row, problem_at)  # type: ignore[assignment]
            Trace.problem.field.set_cached_value(current, problems[problem_id])
            if row[source_at] is not None:
                src = source.instance(row, source_at)
                Trace.source_trace.field.set_cached_value(current, src)
            views += _graded_views(current, json.loads(row[-1] or "[]"), decode)
        return views


def _graded_views(trace: Trace, steps: list[list[Any]], decode: GradeDecoder) -> list[TraceView]:
    """The trace once per grader of its steps' grades (by position, then option), as
    load_trace_views shows it: once, as grader 0, when one grade was chosen per step or when
    there are none."""
    given = [decode(step[6]) if step[6] else _NO_GRADES for step in steps]
    graders = set().union(*{id(g): g for g in given}.values())
    return [
        TraceView(
            trace,
            [
                StepView(position, option, on_path, text, kind, extra, grades.get(grader))
                for (position, option, on_path, text, kind, extra, _), grades in zip(
                    steps, given, strict=True
                )
            ],
            grader=grader,
        )
        for grader in sorted(graders) or [0]
    ]


_NO_GRADES: dict[int, GradeView] = {}


# Sizes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Size:
    problems: int
    traces: int


def project_sizes(project_ids: Iterable[int]) -> dict[int, Size]:
    """Per project id, its problems and traces: the kept ProjectSize rows (PostgreSQL's
    triggers keep them), counted over the rows on the SQLite first-run database."""
    ids = list(project_ids)
    if connection.vendor == "postgresql":
        rows = ProjectSize.objects.filter(project_id__in=ids).values_list(
            "project_id", "problems", "traces"
        )
        kept = {project: Size(problems, traces) for project, problems, traces in rows}
        return {pk: kept.get(pk, Size(0, 0)) for pk in ids}
    return counted_sizes(ids)


def counted_sizes(project_ids: Iterable[int]) -> dict[int, Size]:
    """The same counted over the rows (whole projects: for tests and SQLite)."""
    ids = list(project_ids)
    problems = dict(
        Problem.objects.filter(project_id__in=ids)
        .values_list("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )
    traces = dict(
        Trace.objects.filter(problem__project_id__in=ids)
        .values_list("problem__project_id")
        .annotate(n=Count("id"))
        .values_list("problem__project_id", "n")
    )
    return {pk: Size(problems.get(pk, 0), traces.get(pk, 0)) for pk in ids}
