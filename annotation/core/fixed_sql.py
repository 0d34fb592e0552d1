"""Fixed SQL for the hottest requests (an annotator's autosave runs several times a minute).

Building and compiling a query through the ORM costs more CPU than running it: about 2 ms for
the assignment with its project, annotator and grade source, against 0.3 ms for the same SELECT
written once (measured in-process on PostgreSQL). Under 50 annotators on 2 cores that CPU is
what the saves queue for. Here the column lists are taken from the models' metadata, so the
statements follow the schema, and values come back through the converters the ORM applies
(JSON, and UUIDs, booleans and datetimes on SQLite).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import Field, Model
from django.db.models.base import ModelState

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class Selected:
    """Fields of one model read under a table alias in a fixed statement."""

    model: type[Model]
    alias: str
    field_names: tuple[str, ...] = ()  # empty: every concrete field

    @cached_property
    def fields(self) -> tuple[Field[Any, Any], ...]:
        if not self.field_names:
            return tuple(self.model._meta.concrete_fields)
        return tuple(self.model._meta.get_field(name) for name in self.field_names)  # type: ignore[misc]

    @property
    def sql(self) -> str:
        """The comma-separated column list, for the statement's SELECT."""
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(str(field.column))}" for field in self.fields)

    @property
    def width(self) -> int:
        return len(self.fields)

    @cached_property
    def _attnames(self) -> list[str]:
        return [field.attname for field in self.fields]

    @cached_property
    def _converters(self) -> list[tuple[int, list[Converter], Any]]:
        found = []
        for index, field in enumerate(self.fields):
            column = field.get_col(self.alias)
            converters = connection.ops.get_db_converters(column) + field.get_db_converters(
                connection
            )
            if converters:
                found.append((index, converters, column))
        return found

    def values(self, row: Sequence[Any], start: int = 0) -> list[Any]:
        """This part's values in `row` (from position `start`), as the ORM would return them."""
        values = list(row[start : start + self.width])
        for index, converters, column in self._converters:
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        return values

    def instance(self, row: Sequence[Any], start: int = 0) -> Model:
        """A model instance from this part of `row`; fields not selected load on access.

        What Model.from_db makes, without its __init__ (4.7 instead of 10.9 µs per export
        trace, besides the values' 7 µs): the values go straight into the instance's
        __dict__, where Django looks for loaded fields (an attribute missing there is a
        deferred field), and no pre_init or post_init signal is sent (no model read here
        has a receiver for them)."""
        instance = self.model.__new__(self.model)
        instance.__dict__.update(zip(self._attnames, self.values(row, start), strict=True))
        instance._state = ModelState()
        instance._state.adding = False
        instance._state.db = DEFAULT_DB_ALIAS
        return instance


def execute(sql: str, params: Sequence[Any]) -> int:
    """Runs a statement; returns the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_all_without_jit(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """fetch_all for a statement of many small index lookups (PostgreSQL): compiling it
    just in time costs more than it saves (about 100 ms per statement of an export chunk,
    for some 150 ms of work). One short transaction, so the setting cannot outlive it."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()
