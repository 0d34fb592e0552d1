"""The migrations that keep counts in the database write their statement triggers through
annotation/core/db_triggers.py; what they write is history, so each migration's statements
are pinned here (whitespace aside), as they were before the helper existed."""

import hashlib
import importlib
from typing import Any

import pytest

# The first 16 hex digits of the sha256 of each RunPython's statements, one per line, runs of
# whitespace made one space.
PINNED = {
    ("grading", "0004_grade_tally", "_create"): "836efeba613e9d62",
    ("grading", "0004_grade_tally", "_drop"): "efe756b3ff28ffa2",
    ("problems", "0007_project_size", "_create"): "1707bdc4ed8b962e",
    ("problems", "0007_project_size", "_drop"): "a5f7743e6608c18c",
    ("workspace", "0004_queue_entry", "_create"): "71eb0c28e30bf0d8",
    ("workspace", "0004_queue_entry", "_drop"): "939f15244a2b1eb8",
}


class Recorder:
    """A schema editor on PostgreSQL that keeps what it is asked to run."""

    class connection:  # the attribute the migrations read
        vendor = "postgresql"

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)


@pytest.mark.parametrize(("app", "migration", "function"), sorted(PINNED))
def test_the_migrations_write_the_same_triggers(app: str, migration: str, function: str) -> None:
    # given
    module = importlib.import_module(f"annotation.{app}.migrations.{migration}")
    editor = Recorder()
    # when
    getattr(module, function)(None, editor)
    # then
    text = "\n".join(" ".join(sql.split()) for sql in editor.statements)
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == PINNED[app, migration, function]
