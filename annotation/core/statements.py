"""The statements a connection sends to PostgreSQL, for tests and benches that count them
(tests/workspace/test_save_statements.py, bench/grade_latency.py): read from libpq's protocol
trace, so BEGIN, COMMIT, savepoints and COPY count too, which Django's query log leaves out."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from psycopg import pq


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Yields a list that holds, once the block ends, the text of every statement this
    thread's connection sent in it (PostgreSQL only)."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    sent: list[str] = []
    with tempfile.TemporaryFile() as log:
        pgconn.trace(log.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield sent
        finally:
            pgconn.untrace()
            log.seek(0)
            for line in log.read().decode(errors="replace").splitlines():
                direction, _length, kind, *text = line.split("\t")
                if direction == "F" and kind in ("Query", "Parse"):
                    sent.append("\t".join(text).strip())
