"""Reads of the grade tallies (GradeTally, kept by the database's statement triggers on the
grade table): counts of a project's current grades per source, and its data version, read
from a handful of rows however many grades the project has."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q, Sum

from annotation.grading.models import GradeTally
from annotation.grading.selectors import current_grades


@dataclass(frozen=True, slots=True)
class Tally:
    current: int
    good: int
    neutral: int
    bad: int
    scored: int


def tallies_kept() -> bool:
    """PostgreSQL keeps the tallies; the SQLite first-run database has no statement triggers
    (its projects are small: the readers count there)."""
    return connection.vendor == "postgresql"


def project_tallies(project_id: int) -> dict[int, Tally]:
    """Per source id, the project's current grades of that source (sources with none left
    out)."""
    if not tallies_kept():
        return counted_tallies(project_id)
    rows = GradeTally.objects.filter(project_id=project_id, current__gt=0).values_list(
        "source_id", "current", "good", "neutral", "bad", "scored"
    )
    return {source: Tally(*counts) for source, *counts in rows}


def counted_tallies(project_id: int) -> dict[int, Tally]:
    """The same, counted over the grade rows (the whole project: for tests and SQLite)."""
    rows = (
        current_grades()
        .filter(node__problem__project_id=project_id)
        .values("source_id")
        .annotate(
            current=Count("id"),
            good=Count("id", filter=Q(rating=1)),
            neutral=Count("id", filter=Q(rating=0)),
            bad=Count("id", filter=Q(rating=-1)),
            scored=Count("id", filter=Q(score__isnull=False)),
        )
        .values_list("source_id", "current", "good", "neutral", "bad", "scored")
    )
    return {source: Tally(*counts) for source, *counts in rows}


def data_version(project_id: int) -> int:
    """How many grade rows of the project were written (inserted, changed or deleted) so
    far: an analysis stores the version it read, and its result is current while the
    version is unchanged. 0 where tallies are not kept."""
    if not tallies_kept():
        return 0
    total = GradeTally.objects.filter(project_id=project_id).aggregate(n=Sum("writes"))["n"]
    return int(total or 0)
