"""Which grade labels a step of a trace, for exports: a filter of current grades and how a
node's grades combine into one, read two ways.

- `GradeChoice.loader()`: Python over a chunk's (trace, node) keys, on any database.
- `GradeChoice.step_sql()`: a subquery that the exports' aggregated query (PostgreSQL,
  annotation/problems/selectors.py) runs per step, giving the step's grade as a JSON array
  that `GradeChoice.decoder()` turns into the same GradeView the loader gives.

Both readings are one rule; tests/exports/test_aggregated_views.py holds them equal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from django.db import connection
from django.db.models import Count, Exists, Model, OuterRef, Q
from django.db.models.expressions import RawSQL

from annotation.grading.models import GradeSource
from annotation.grading.selectors import (
    GradedKey,
    GradeView,
    StepKey,
    current_grades,
    grades_given_in_trace,
)
from annotation.problems.models import Trace, TraceStep

Combine = Literal["by_source", "latest", "majority"]
GradeLoader = Callable[[set[StepKey]], dict[GradedKey, GradeView]]
MAJORITY = "majority"  # the source name of a combined grade


def column(model: type[Model], field: str, alias: str) -> str:
    """`alias.column` of a model's field, the column's name from the model's metadata."""
    return f"{alias}.{connection.ops.quote_name(str(model._meta.get_field(field).column))}"  # type: ignore[union-attr]


@dataclass(frozen=True)
class GradeChoice:
    """by_source: the current grades given in the step's own trace, one set per source (the
    trace is then shown once per source that graded in it; `grades` is not read).
    latest: of the node's current grades that `grades` takes, the latest (highest id).
    majority: the most common rating of those (a tie goes to the lower rating); `agreement`
    is the share of votes for it."""

    combine: Combine
    grades: Q = field(default_factory=Q)

    # Python, any database ---------------------------------------------------------------

    def loader(self) -> GradeLoader:
        if self.combine == "by_source":
            return grades_given_in_trace
        if self.combine == "latest":
            return self._latest
        return self._majority

    def _latest(self, keys: set[StepKey]) -> dict[GradedKey, GradeView]:
        rows = (
            current_grades()
            .filter(self.grades, node_id__in={n for _, n in keys})
            .order_by("node_id", "id")
            .values_list("node_id", "rating", "score", "flagged", "source__name")
        )
        by_node = {
            node_id: GradeView(rating, score, flagged, name)
            for node_id, rating, score, flagged, name in rows  # the latest id wins
        }
        return _by_key(keys, by_node)

    def _majority(self, keys: set[StepKey]) -> dict[GradedKey, GradeView]:
        votes: dict[UUID, list[int]] = defaultdict(list)
        rows = (
            current_grades()
            .filter(self.grades, rating__isnull=False, node_id__in={n for _, n in keys})
            .values_list("node_id", "rating")
        )
        for node_id, rating in rows:
            votes[node_id].append(int(rating or 0))  # not null: filtered above
        by_node = {}
        for node_id, ratings in votes.items():
            counts = Counter(ratings)
            rating = min(counts, key=lambda r: (-counts[r], r))
            by_node[node_id] = majority_view(rating, counts[rating], len(ratings))
        return _by_key(keys, by_node)

    # SQL, PostgreSQL ----------------------------------------------------------------------

    def step_sql(self, step: str, grader: str) -> tuple[str, list[Any]]:
        """A subquery giving one row, a JSON array, or none: the grade of the trace step row
        aliased `step` (for by_source: the one given by the source `grader`, an SQL
        expression), for a LATERAL join."""
        node = RawSQL(column(TraceStep, "node", step), ())
        if self.combine == "majority":
            votes = (
                current_grades()
                .filter(self.grades, rating__isnull=False, node_id=node)
                .values("rating")
                .annotate(n=Count("id"))
                .order_by()
                .values_list("rating", "n")
            )
            sql, params = votes.query.sql_with_params()
            return (
                "SELECT json_build_array(v.rating, v.n, sum(v.n) OVER ()) "
                f"FROM ({sql}) AS v(rating, n) ORDER BY v.n DESC, v.rating LIMIT 1",
                list(params),
            )
        grades = current_grades().filter(node_id=node)
        if self.combine == "by_source":
            trace = RawSQL(column(TraceStep, "trace", step), ())
            grades = grades.filter(trace_id=trace, source_id=RawSQL(grader, ()))
        else:
            grades = grades.filter(self.grades)
        latest = grades.order_by("-id").values_list("rating", "score", "flagged", "source_id")
        sql, params = latest[:1].query.sql_with_params()
        return (
            "SELECT json_build_array(v.rating, v.score, v.flagged, v.source_id) "
            f"FROM ({sql}) AS v(rating, score, flagged, source_id)",
            list(params),
        )

    def graders_sql(self, trace: str) -> tuple[str, list[Any]]:
        """by_source: a subquery of the sources (one column) that graded a step shown in the
        trace row aliased `trace`."""
        shown = TraceStep.objects.filter(trace_id=OuterRef("trace_id"), node_id=OuterRef("node_id"))
        graders = (
            current_grades()
            .filter(Exists(shown), trace_id=RawSQL(column(Trace, "id", trace), ()))
            .order_by()
            .values_list("source_id")
            .distinct()
        )
        sql, params = graders.query.sql_with_params()
        return sql, list(params)

    def decoder(self) -> Callable[[list[Any]], GradeView]:
        """GradeView from step_sql's JSON array. Equal grades share one view (exports only
        read them), so a million steps make a few hundred objects."""
        names = _SourceNames()
        made: dict[tuple[Any, ...], GradeView] = {}
        majority = self.combine == "majority"

        def decode(values: list[Any]) -> GradeView:
            key = tuple(values)
            view = made.get(key)
            if view is None:
                if majority:
                    view = majority_view(*values)
                else:
                    rating, score, flagged, source = values
                    # JSON writes a float of integral value as an integer, and NaN or
                    # infinity as a string: float() gives back what the column holds
                    score = float(score) if score is not None else None
                    view = GradeView(rating, score, flagged, names[source])
                made[key] = view
            return view

        return decode


def majority_view(rating: int, agreeing: int, votes: int) -> GradeView:
    return GradeView(rating, None, None, MAJORITY, votes=votes, agreement=agreeing / votes)


def _by_key(keys: set[StepKey], by_node: dict[UUID, GradeView]) -> dict[GradedKey, GradeView]:
    return {(t, n, 0): by_node[n] for t, n in keys if n in by_node}


class _SourceNames(dict[int, str]):
    """Grade source names by id, each read once."""

    def __missing__(self, pk: int) -> str:
        name = GradeSource.objects.filter(pk=pk).values_list("name", flat=True).get()
        self[pk] = name
        return name
