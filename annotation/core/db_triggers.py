"""Statement triggers with transition tables, the way the migrations that keep counts in the
database write them (grading 0004 the grade tallies, problems 0007 the project sizes,
workspace 0004 the queue entries): a PL/pgSQL function running `body` once per statement, an
AFTER trigger FOR EACH STATEMENT that sees the statement's rows as `new_rows` / `old_rows`,
and ENABLE ALWAYS, so that it fires for the importer's COPY too (which turns ordinary triggers
off with session_replication_role = replica, to skip the per-row foreign-key checks).

PostgreSQL only: the SQLite first-run database has no statement triggers. Migrations call
these, so what they write is history: tests/core/test_db_triggers.py pins each migration's
statements."""

# A trigger with transition tables takes one event; these are the tables each event sees.
TRANSITION_TABLES = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


def statement_trigger(table: str, name: str, event: str) -> str:
    """The trigger `name` on `table` after each `event` statement, calling the function
    `name()`, enabled always."""
    return f"""
    CREATE TRIGGER {name} AFTER {event.upper()} ON {table}
        REFERENCING {TRANSITION_TABLES[event]} FOR EACH STATEMENT EXECUTE FUNCTION {name}();
    ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name};
    """


def create_statement_trigger(table: str, name: str, event: str, body: str) -> str:
    """The function `name()` running `body` (statements reading the transition tables) and
    its trigger (statement_trigger)."""
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {body}
        RETURN NULL;
    END $$;
    {statement_trigger(table, name, event)}"""


def drop_statement_trigger(table: str, name: str) -> str:
    return f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();"
