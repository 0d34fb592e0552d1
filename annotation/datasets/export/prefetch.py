"""Read the next chunk while this one is written: the database builds chunk n+1 while Python
turns chunk n into rows, so an export takes about the longer of the two rather than their sum.

The read runs in one worker thread with a connection of its own, so only in autocommit:
inside a transaction (a test's, or a caller's atomic block) the other connection would not
see what the transaction wrote, and the read runs in place, one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection, connections

T = TypeVar("T")
A = TypeVar("A")


@contextmanager
def reads_ahead() -> Iterator[Callable[[Callable[[A], T], A], Future[T]]]:
    """A `submit(read, arg)` that starts `read(arg)` and returns its future: in a worker
    thread in autocommit, else run at once. The thread's connection closes on exit."""
    if connection.in_atomic_block:
        yield _run_now
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-read")
    try:
        yield pool.submit
    finally:
        pool.submit(connections.close_all).result()  # the worker thread's own connection
        pool.shutdown(wait=True)


def _run_now(read: Callable[[A], T], arg: A) -> Future[T]:
    done: Future[T] = Future()
    try:
        done.set_result(read(arg))
    except BaseException as error:
        done.set_exception(error)
    return done
