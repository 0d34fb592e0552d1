"""A trace's disagreement is computed per trace, each call planned anew; on a large project
its estimated cost passes `jit_above_cost` and every call compiled its plan with LLVM (tens of
milliseconds each: a run's scores over a million steps spent most of their time there). The
refresh and the per-trace function run without JIT (core/fixed_sql.py does the same)."""

from typing import Any

from django.db import migrations

_FUNCTIONS = ("workspace_priority_refresh(bigint[])", "workspace_trace_priority(bigint)")


def _forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for function in _FUNCTIONS:
            schema_editor.execute(f"ALTER FUNCTION {function} SET jit = off")


def _backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for function in _FUNCTIONS:
            schema_editor.execute(f"ALTER FUNCTION {function} RESET jit")


class Migration(migrations.Migration):
    dependencies = [("workspace", "0005_priority_refresh_by_join")]

    operations = [migrations.RunPython(_forward, _backward)]
