"""Fast bulk inserts for imports: COPY on PostgreSQL, executemany elsewhere.

Rows are plain tuples in the order of `fields`; JSON fields take Python objects.
"""

from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.db import connection, models
from psycopg.types.json import Jsonb


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    *,
    ignore_conflicts: bool = False,
) -> set[Any] | None:
    """Insert rows; with ignore_conflicts, returns the primary keys that were new."""
    table = model._meta.db_table
    meta_fields = [cast(models.Field[Any, Any], model._meta.get_field(f)) for f in fields]
    columns = [str(f.column) for f in meta_fields]
    if connection.vendor == "postgresql":
        json_at = [i for i, f in enumerate(meta_fields) if isinstance(f, models.JSONField)]
        return _copy(table, columns, _jsonb(rows, json_at), ignore_conflicts)
    else:
        prepared = (
            tuple(f.get_db_prep_save(v, connection) for f, v in zip(meta_fields, row, strict=True))
            for row in rows
        )
        return _executemany(table, columns, prepared, ignore_conflicts)


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """Take `count` primary keys from the table's sequence (PostgreSQL only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _copy(
    table: str, columns: list[str], rows: Iterable[tuple[Any, ...]], ignore: bool
) -> set[Any] | None:
    column_list = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        target = table
        if ignore:
            # COPY cannot skip conflicts: copy into a scratch table, then insert from it.
            target = f"_stepwise_copy_{table}"
            cursor.execute(
                f'CREATE TEMP TABLE IF NOT EXISTS "{target}" '
                f'(LIKE "{table}" INCLUDING DEFAULTS) ON COMMIT DROP'
            )
        with raw.copy(f'COPY "{target}" ({column_list}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        if ignore:
            cursor.execute(
                f'INSERT INTO "{table}" ({column_list}) SELECT {column_list} FROM "{target}" '
                f'ON CONFLICT DO NOTHING RETURNING "{columns[0]}"'
            )
            new = {row[0] for row in cursor.fetchall()}
            cursor.execute(f'TRUNCATE "{target}"')
            return new
    return None


def _executemany(
    table: str, columns: list[str], rows: Iterable[tuple[Any, ...]], ignore: bool
) -> set[Any] | None:
    column_list = ", ".join(f'"{c}"' for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    conflict = " ON CONFLICT DO NOTHING" if ignore else ""
    sql = f'INSERT INTO "{table}" ({column_list}) VALUES ({placeholders}){conflict}'
    new = set()
    with connection.cursor() as cursor:
        for row in rows:  # one by one, so that new keys are known (SQLite: small data only)
            cursor.execute(sql, row)
            if cursor.rowcount:
                new.add(row[0])
    return new if ignore else None


def _jsonb(rows: Iterable[tuple[Any, ...]], json_at: list[int]) -> Iterable[tuple[Any, ...]]:
    if not json_at:
        return rows
    return (
        tuple(Jsonb(v) if i in json_at and v is not None else v for i, v in enumerate(row))
        for row in rows
    )
