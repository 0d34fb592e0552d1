"""Which grade labels a step of a trace, for exports: a filter of current grades and how a
node's grades combine into one, read two ways.

- `GradeChoice.loader()`: Python over a chunk's (trace, node) keys, on any database.
- `GradeChoice.step_join()`: a join that the exports' aggregated query (PostgreSQL,
  annotation/problems/selectors.py) makes to each step, giving the step's grades as a text
  that `GradeChoice.decoder()` turns into the same GradeViews the loader gives.

Both readings are one rule; tests/exports/test_aggregated_views.py holds them equal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from django.db import connection
from django.db.models import Count, Model, Q
from django.db.models.expressions import RawSQL

from annotation.grading.models import GradeSource
from annotation.grading.selectors import (
    GradedKey,
    GradeView,
    StepKey,
    current_grades,
    grades_given_in_trace,
)
from annotation.problems.models import TraceStep

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

    def step_join(self, step: str, trace: str) -> tuple[str, list[Any]]:
        """A LEFT JOIN clause, inside a query over the steps (aliased `step`) of the one
        trace whose id is the outer column `trace`, giving each step's grades as the text
        column `c.grades`, or NULL: for by_source the grade of each source that graded the
        step in its trace, else the one chosen grade.
        `decoder` reads it. Text rather than JSON: equal texts are looked up once, so a step
        costs one dictionary lookup."""
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
                "LEFT JOIN LATERAL (SELECT concat(v.rating, '|', v.n, '|', sum(v.n) OVER ()) "
                f"FROM ({sql}) AS v(rating, n) ORDER BY v.n DESC, v.rating LIMIT 1"
                ") AS c(grades) ON true",
                list(params),
            )
        fields = ("rating", "score", "flagged", "source_id")
        # concat writes NULL as nothing, a float as its shortest exact text, a bool as t or f
        grade = "concat(v.rating, '|', v.score, '|', v.flagged, '|', v.source_id)"
        if self.combine == "by_source":
            # the grades given in the step's trace, read once per trace (one index range)
            # and grouped by node, rather than looked up step by step
            given = current_grades().filter(trace_id=RawSQL(trace, ()))
            sql, params = given.values_list("node_id", *fields).query.sql_with_params()
            return (
                f"LEFT JOIN (SELECT v.node_id, string_agg({grade}, ';' ORDER BY v.source_id) "
                f"FROM ({sql}) AS v(node_id, rating, score, flagged, source_id) "
                f"GROUP BY v.node_id) AS c(node_id, grades) ON c.node_id = {node.sql}",
                list(params),
            )
        latest = current_grades().filter(self.grades, node_id=node).order_by("-id")
        sql, params = latest.values_list(*fields)[:1].query.sql_with_params()
        return (
            f"LEFT JOIN LATERAL (SELECT {grade} "
            f"FROM ({sql}) AS v(rating, score, flagged, source_id)) AS c(grades) ON true",
            list(params),
        )

    def decoder(self) -> GradeDecoder:
        """The grades of step_join's text by grader: the source for by_source, else 0. Equal
        texts share one result (exports only read them), so a million steps make a few
        hundred GradeViews when ratings label them; a source's name is read once."""
        names = _SourceNames()
        made: dict[str, dict[int, GradeView]] = {}
        by_source = self.combine == "by_source"

        def one(text: str) -> tuple[int, GradeView]:
            if self.combine == "majority":
                top, agreeing, votes = map(int, text.split("|"))
                return 0, majority_view(top, agreeing, votes)
            rating, score, flagged, source = text.split("|")
            view = GradeView(
                int(rating) if rating else None,
                float(score) if score else None,
                {"t": True, "f": False, "": None}[flagged],
                names[int(source)],
            )
            return (int(source) if by_source else 0), view

        def decode(text: str) -> dict[int, GradeView]:
            found = made.get(text)
            if found is None:
                if len(made) >= _DECODED_KEPT:  # machine scores are rarely equal
                    made.clear()
                found = made[text] = dict(one(grade) for grade in text.split(";"))
            return found

        return decode


GradeDecoder = Callable[[str], dict[int, GradeView]]
_DECODED_KEPT = 100_000


def majority_view(rating: int, agreeing: int, votes: int) -> GradeView:
    return GradeView(rating, None, None, MAJORITY, votes=votes, agreement=agreeing / votes)


def _by_key(keys: set[StepKey], by_node: dict[UUID, GradeView]) -> dict[GradedKey, GradeView]:
    return {(t, n, 0): by_node[n] for t, n in keys if n in by_node}


class _SourceNames(dict[int, str]):
    """Grade source names by id, read a block at a time: a missing id brings the names of the
    next _NAMES_READ ids with it, since the sources one export meets (its annotators, a job's
    model) were mostly made together, so one statement serves many graders."""

    def __missing__(self, pk: int) -> str:
        block = GradeSource.objects.filter(pk__gte=pk, pk__lt=pk + _NAMES_READ)
        self.update(block.values_list("pk", "name"))
        if pk not in self:
            raise KeyError(pk)  # a source deleted while the export read its grades
        return self[pk]


_NAMES_READ = 1000
