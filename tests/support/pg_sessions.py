"""Second PostgreSQL sessions for tests of what happens between transactions: one that holds a
lock while the code under test waits for it."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.db import connection


def postgres_params() -> dict[str, Any]:
    """The test database's connection parameters, for a session of the test's own."""
    db = connection.settings_dict
    return {
        "dbname": db["NAME"],
        "user": db.get("USER") or "postgres",
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
    }


def wait_for_a_lock_wait(what: str = "the request") -> None:
    """Until another session waits for a lock; read outside a transaction, whose view of
    pg_stat_activity would stay as it first read it."""
    with psycopg.connect(**postgres_params(), autocommit=True) as watcher:
        for _ in range(600):
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"{what} never waited for a lock")
