"""The disagreement refresh returns at once when no trace's machine scores moved. Every grade
statement's trigger calls it (migration 0004), a person's grades with no trace at all: it still
ran its locking read and an UPDATE of no row, whose own statement trigger (the queue sizes)
ran too, on every autosave of every annotator. Redefined as in 0005, JIT off as in 0006
(CREATE OR REPLACE resets what the command does not say)."""

from typing import Any

from django.db import migrations

_BODY = """
    PERFORM 1 FROM workspace_queueentry e JOIN unnest(traces) AS t(id) ON e.trace_id = t.id
    ORDER BY e.trace_id FOR UPDATE OF e;
    UPDATE workspace_queueentry e SET priority = p.value
    FROM (SELECT t, workspace_trace_priority(t) FROM unnest(traces) AS t) AS p(trace_id, value)
    WHERE e.trace_id = p.trace_id AND e.priority IS DISTINCT FROM p.value;
"""
_EARLY_RETURN = """
    IF cardinality(traces) = 0 THEN
        RETURN;
    END IF;
"""


def _refresh(early_return: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION workspace_priority_refresh(traces bigint[]) RETURNS void
    LANGUAGE plpgsql SET jit = off AS $$
    BEGIN
        {early_return}
        -- Rows locked in one order, so two jobs writing grades of shared steps never deadlock.
        {_BODY}
    END $$;
    """


def _forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_refresh(_EARLY_RETURN))


def _backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_refresh(""))


class Migration(migrations.Migration):
    dependencies = [("workspace", "0006_priority_without_jit")]
    operations = [migrations.RunPython(_forward, _backward)]
