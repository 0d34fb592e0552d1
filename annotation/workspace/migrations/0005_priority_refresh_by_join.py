"""The entries of a statement's traces are locked and updated by a join with the list of
traces, not by `trace_id = ANY(list)`: with a list held in a parameter PostgreSQL may compare
each entry with every element, which is quadratic for one statement over a whole project
(a run's scores of a million steps: a hundred thousand traces)."""

from typing import Any

from django.db import migrations

_REFRESH = """
CREATE OR REPLACE FUNCTION workspace_priority_refresh(traces bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Rows locked in one order, so two jobs writing grades of shared steps never deadlock.
    PERFORM 1 FROM workspace_queueentry e JOIN unnest(traces) AS t(id) ON e.trace_id = t.id
    ORDER BY e.trace_id FOR UPDATE OF e;
    UPDATE workspace_queueentry e SET priority = p.value
    FROM (SELECT t, workspace_trace_priority(t) FROM unnest(traces) AS t) AS p(trace_id, value)
    WHERE e.trace_id = p.trace_id AND e.priority IS DISTINCT FROM p.value;
END $$;
"""


def _replace(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_REFRESH)


class Migration(migrations.Migration):
    dependencies = [("workspace", "0004_queue_entry")]

    # Backwards the join stays: it computes the same.
    operations = [migrations.RunPython(_replace, migrations.RunPython.noop)]
