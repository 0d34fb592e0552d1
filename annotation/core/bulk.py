"""Fast bulk inserts for imports: COPY on PostgreSQL, executemany elsewhere.

Rows are plain tuples in the order of `fields`; JSON fields take Python objects.

Foreign keys: PostgreSQL checks each inserted row with a trigger (a locked index lookup per
reference, about seven per imported step). `row_triggers_skipped` turns those checks off while
the importer writes a chunk; the importer then takes the same locks once per chunk with
`lock_keys` on the rows it references, so that no concurrent delete can leave a dangling
reference. Everyone else's writes keep their checks.
"""

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import msgspec
from django.db import IntegrityError, connection, models, transaction
from django.db.utils import DatabaseError
from psycopg import adapt, postgres
from psycopg._copy_base import format_row_binary  # psycopg's C row formatter (pinned 3.x)
from psycopg.adapt import PyFormat
from psycopg.pq import Format
from psycopg.types.json import set_json_dumps


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    table, columns, meta_fields = _columns(model, fields)
    if connection.vendor == "postgresql":
        _copy(table, columns, rows, meta_fields)
    else:
        _executemany(table, columns, _prepared(rows, meta_fields), ignore=False)


def insert_new_rows(
    model: type[models.Model], fields: Sequence[str], rows: dict[Any, tuple[Any, ...]]
) -> set[Any]:
    """Insert the rows (keyed by primary key, the first field) that are not in the table
    yet; returns the keys that were new. The rows that were there are locked (KEY SHARE).
    """
    table, columns, meta_fields = _columns(model, fields)
    if connection.vendor != "postgresql":
        return _executemany(table, columns, _prepared(rows.values(), meta_fields), ignore=True)
    existing = lock_keys(model, rows.keys())
    new = {key: row for key, row in rows.items() if key not in existing}
    try:
        with transaction.atomic():
            _copy(table, columns, new.values(), meta_fields)
    except IntegrityError:  # another transaction wrote some of them meanwhile
        return _copy_ignoring_conflicts(table, columns, new.values(), meta_fields)
    return set(new)


class RowEncoder:
    """Encodes rows of a model's `fields` ahead of `insert_encoded`, with no database
    connection, so that a process that has none (an import's parsing process) can do the
    work: PostgreSQL's binary COPY rows (bytes; a uuid given as its 16 bytes), or
    the tuples as they are elsewhere. `join` makes a block of rows, which `insert_encoded`
    writes as it is."""

    def __init__(self, model: type[models.Model], fields: Sequence[str], *, binary: bool) -> None:
        self.binary = binary
        if binary:
            _, _, meta_fields = _columns(model, fields)
            adapters = adapt.AdaptersMap(postgres.adapters)
            set_json_dumps(msgspec.json.encode, adapters)  # the same JSON, in C
            # bytes by the C dumper registered for them: the one for the bytea type is the
            # last registered for it, DB-API's Binary's, in Python (four calls per step).
            adapters.register_dumper(bytes, adapters.get_dumper(bytes, PyFormat.BINARY))
            self._transformer = adapt.Transformer(adapters)
            # A uuid's binary form is its 16 bytes, as a bytea's is its bytes: psycopg's C
            # bytes dumper writes it (a COPY row names no types).
            types = ["bytea" if t == "uuid" else t for t in _db_types(meta_fields)]
            self._transformer.set_dumper_types(
                [postgres.types.get_oid(t) for t in types], Format.BINARY
            )

    def encode(self, row: tuple[Any, ...]) -> Any:
        if not self.binary:
            return row
        out = bytearray()
        format_row_binary(row, self._transformer, out)
        return bytes(out)

    def join(self, rows: list[Any]) -> Any:
        return b"".join(rows) if self.binary else rows

    def block(self) -> Any:
        """An empty block, to `add` rows to (cheaper than `join`ing them)."""
        return bytearray() if self.binary else []

    def add(self, block: Any, row: tuple[Any, ...]) -> None:
        if self.binary:
            format_row_binary(row, self._transformer, block)
        else:
            block.append(row)


def insert_encoded(model: type[models.Model], fields: Sequence[str], blocks: Sequence[Any]) -> None:
    """Insert blocks of rows made by a `RowEncoder` of the same model and fields."""
    table, columns, meta_fields = _columns(model, fields)
    if connection.vendor != "postgresql":
        rows = (row for block in blocks for row in block)
        _executemany(table, columns, _prepared(rows, meta_fields), ignore=False)
    elif blocks:
        _copy_encoded(table, columns, blocks)


def insert_new_encoded(
    model: type[models.Model],
    fields: Sequence[str],
    rows: dict[Any, Any],
    *,
    expect_new: bool = False,
) -> set[Any]:
    """`insert_new_rows` for encoded rows, keyed by their uuid primary key as 16 bytes (as a
    UUID on databases other than PostgreSQL).

    `expect_new`: try writing them all first, and look for the ones that are there (and lock
    them) only if that fails: no look-up at all when none was there, as in a first import."""
    table, columns, meta_fields = _columns(model, fields)
    if connection.vendor != "postgresql":
        return _executemany(table, columns, _prepared(rows.values(), meta_fields), ignore=True)
    if expect_new:
        try:
            with transaction.atomic():
                _copy_encoded(table, columns, list(rows.values()))
            return set(rows)
        except IntegrityError:
            pass  # some were there: as below
    existing = lock_uuid_keys(model, rows.keys())
    new = {key: row for key, row in rows.items() if key not in existing}
    try:
        with transaction.atomic():
            _copy_encoded(table, columns, list(new.values()))
    except IntegrityError:  # another transaction wrote some of them meanwhile
        return _copy_encoded_ignoring_conflicts(table, columns, list(new.values()))
    return set(new)


def lock_uuid_keys(model: type[models.Model], keys: Collection[bytes]) -> set[bytes]:
    """`lock_keys` for a uuid primary key given as 16 bytes: sent as one bytea and split by
    the server, so that no Python object is made per key (tens of thousands per chunk)."""
    if not keys:
        return set()
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT uuid_send("{pk}") FROM "{table}" WHERE "{pk}" IN ('
            "SELECT encode(substring(%s::bytea FROM i * 16 + 1 FOR 16), 'hex')::uuid "
            "FROM generate_series(0, %s - 1) AS i) FOR KEY SHARE",
            [b"".join(keys), len(keys)],
        )
        return {bytes(row[0]) for row in cursor.fetchall()}


def lock_keys(model: type[models.Model], keys: Collection[Any]) -> set[Any]:
    """Lock the rows with these primary keys against deletion; returns the keys found."""
    if not keys or connection.vendor != "postgresql":
        return set()
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "{pk}" FROM "{table}" WHERE "{pk}" = ANY(%s) FOR KEY SHARE', [list(keys)]
        )
        return {row[0] for row in cursor.fetchall()}


def existing_pairs(
    model: type[models.Model], fields: tuple[str, str], pairs: Collection[tuple[Any, Any]]
) -> set[tuple[Any, Any]]:
    """Which of these (field 1, field 2) value pairs the table holds."""
    if not pairs:
        return set()
    if connection.vendor != "postgresql":
        found = model._default_manager.filter(
            **{f"{fields[0]}__in": {a for a, _ in pairs}, f"{fields[1]}__in": {b for _, b in pairs}}
        ).values_list(*fields)
        return set(found) & set(pairs)
    table, columns, meta_fields = _columns(model, fields)
    types = _db_types(meta_fields)
    first, second = (f'"{c}"' for c in columns)
    with connection.cursor() as cursor:  # one index probe per pair
        cursor.execute(
            f'SELECT {first}, {second} FROM "{table}" '
            f"WHERE ({first}, {second}) IN "
            f"(SELECT * FROM unnest(%s::{types[0]}[], %s::{types[1]}[]))",
            [[a for a, _ in pairs], [b for _, b in pairs]],
        )
        return set(cursor.fetchall())


@contextmanager
def row_triggers_skipped() -> Iterator[bool]:
    """Inside an atomic block: turn off per-row foreign-key triggers for the block, where
    the database role may (a superuser, or on PostgreSQL 15+ after
    `GRANT SET ON PARAMETER session_replication_role TO <role>`). Yields whether it did.

    The setting is put back when the block succeeds; when it fails, rolling the block back
    puts it back.
    """
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield False
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('session_replication_role'), "
                "set_config('session_replication_role', 'replica', true)"
            )
            previous = cursor.fetchone()[0]
    except DatabaseError:
        yield False
        return
    yield True
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('session_replication_role', %s, true)", [previous])


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """Take `count` primary keys from the table's sequence (PostgreSQL only)."""
    with connection.cursor() as cursor:
        cursor.execute(  # the sequence found once, not once per id (7 times the time)
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) "
            "SELECT nextval(seq) FROM s, generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _columns(
    model: type[models.Model], fields: Sequence[str]
) -> tuple[str, list[str], list[models.Field[Any, Any]]]:
    meta_fields = [cast(models.Field[Any, Any], model._meta.get_field(f)) for f in fields]
    return model._meta.db_table, [str(f.column) for f in meta_fields], meta_fields


def _copy(
    table: str,
    columns: list[str],
    rows: Iterable[tuple[Any, ...]],
    meta_fields: list[models.Field[Any, Any]],
) -> None:
    """COPY in PostgreSQL's binary format: the server does not parse text into uuid,
    timestamp or jsonb values, and JSON fields take Python objects as they are."""
    column_list = ", ".join(f'"{c}"' for c in columns)
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,  # raw psycopg errors as Django's, as execute() gives
        cursor.cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN (FORMAT BINARY)') as copy,
    ):
        copy.set_types(_db_types(meta_fields))
        for row in rows:
            copy.write_row(row)


_SIGNATURE = b"PGCOPY\n\xff\r\n\0" + bytes(8)  # binary COPY: signature, flags, extension
_TRAILER = b"\xff\xff"


def _copy_encoded(table: str, columns: list[str], blocks: Sequence[Any]) -> None:
    column_list = ", ".join(f'"{c}"' for c in columns)
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN (FORMAT BINARY)') as copy,
    ):
        copy.write(b"".join((_SIGNATURE, *blocks, _TRAILER)))


def _copy_encoded_ignoring_conflicts(
    table: str, columns: list[str], rows: Sequence[Any]
) -> set[bytes]:
    """The keys come back as their 16 bytes, as the encoded rows hold them."""
    new = _insert_through_scratch(
        table, columns, lambda scratch: _copy_encoded(scratch, columns, rows), binary_key=True
    )
    return {bytes(key) for key in new}


def _db_types(meta_fields: list[models.Field[Any, Any]]) -> list[str]:
    """The columns' type names as psycopg and casts know them: varchar(20) -> varchar (a
    foreign key's db_type is its target's)."""
    return [str(f.db_type(connection)).split("(", 1)[0] for f in meta_fields]


def _copy_ignoring_conflicts(
    table: str,
    columns: list[str],
    rows: Iterable[tuple[Any, ...]],
    meta_fields: list[models.Field[Any, Any]],
) -> set[Any]:
    return _insert_through_scratch(
        table, columns, lambda scratch: _copy(scratch, columns, rows, meta_fields)
    )


def _insert_through_scratch(
    table: str, columns: list[str], fill: Callable[[str], None], *, binary_key: bool = False
) -> set[Any]:
    """COPY cannot skip conflicts: `fill` copies into a scratch table, then its rows are
    inserted, skipping conflicts; returns the keys (first column) that were new."""
    scratch = f"_stepwise_copy_{table}"
    column_list = ", ".join(f'"{c}"' for c in columns)
    key = f'uuid_send("{columns[0]}")' if binary_key else f'"{columns[0]}"'
    with connection.cursor() as cursor:
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{scratch}" '
            f'(LIKE "{table}" INCLUDING DEFAULTS) ON COMMIT DROP'
        )
        fill(scratch)
        cursor.execute(
            f'INSERT INTO "{table}" ({column_list}) SELECT {column_list} FROM "{scratch}" '
            f"ON CONFLICT DO NOTHING RETURNING {key}"
        )
        new = {row[0] for row in cursor.fetchall()}
        cursor.execute(f'TRUNCATE "{scratch}"')
        return new


def _executemany(
    table: str, columns: list[str], rows: Iterable[tuple[Any, ...]], ignore: bool
) -> set[Any]:
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
    return new


def _prepared(
    rows: Iterable[tuple[Any, ...]], meta_fields: list[models.Field[Any, Any]]
) -> Iterable[tuple[Any, ...]]:
    return (
        tuple(f.get_db_prep_save(v, connection) for f, v in zip(meta_fields, row, strict=True))
        for row in rows
    )
