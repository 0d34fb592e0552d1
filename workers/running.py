"""What running a job and running a shard share (workers/tasks.py, workers/shards.py): the
heartbeat while a runner works, which errors a retry can help, and what users see of an error."""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
)
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


def is_transient(error: BaseException) -> bool:
    """Errors that say a retry can help: a backend's own verdict, a lost database link, or a
    unique key another worker wrote at the same moment (a shard taken over from a worker that
    was slow, not dead: done again, the chunk finds its outputs there and writes nothing)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, IntegrityError) and getattr(error.__cause__, "sqlstate", "") == "23505":
        return True
    return bool(getattr(error, "retryable", False))


def error_summary(error: BaseException) -> str:
    """The error a job's page and API show. A database error's text can quote SQL and the values
    of rows, so users get its kind only; the worker's log has the whole error."""
    if isinstance(error, DatabaseError):
        return f"a database error stopped the job ({type(error).__name__}); see the worker's log"
    return str(error) or type(error).__name__


def holds_sqlite_write_lock(runner_connection: BaseDatabaseWrapper) -> bool:
    """Whether the runner is inside a transaction on SQLite, which then holds the file's only
    write lock (transaction_mode IMMEDIATE, annotation/settings.py): another connection's write
    would wait for it, then fail with "database is locked". Its progress reports refresh the
    heartbeat in its own connection meanwhile."""
    return runner_connection.vendor == "sqlite" and runner_connection.in_atomic_block


@contextmanager
def heartbeat(beat: Callable[[], bool], name: str) -> Iterator[None]:
    """Call `beat` while the runner works, so a long chunk is not mistaken for a dead worker.

    A killed worker stops beating; after STEPWISE_JOB_STALE_SECONDS its work may be taken again.
    A beat that fails (the database restarting) is tried again at the next interval; a beat
    that returns False (the work is no longer ours) ends the beating.
    """
    stop = threading.Event()
    interval = max(settings.STEPWISE_JOB_STALE_SECONDS / 3, 0.2)
    runner_connection = connections[DEFAULT_DB_ALIAS]  # this thread's (the runner's) own

    def loop() -> None:
        try:
            while not stop.wait(interval):
                if holds_sqlite_write_lock(runner_connection):
                    continue  # a beat would wait for the runner's own lock, then fail
                try:
                    if not beat():
                        return
                except (OperationalError, InterfaceError) as error:
                    logger.warning("%s: heartbeat missed: %s", name, error)
                    connection.close()  # a new connection at the next beat
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=loop, name=f"heartbeat-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
