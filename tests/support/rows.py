"""Rows made once for all the tests of a module, the way Django's TestCase.setUpTestData makes
them for a class: inside a transaction that is rolled back after the module's last test. Each
test's `db` fixture runs in a savepoint inside it, so what a test writes is undone as usual.

A module that uses this holds no test on `transactional_db` or `live_server`: those would run
inside the open transaction (put them in a module of their own)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import transaction

T = TypeVar("T")


@contextmanager
def made_for_the_module(django_db_blocker: Any, make: Callable[[], T]) -> Iterator[T]:
    """`make()` once; the rows it wrote are rolled back when the context ends."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            made = make()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield made
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def fresh_copy(made: T) -> T:
    """A test's own copy of the module's objects (model instances included), so that an
    attribute one test sets on them is not seen by the next (setUpTestData copies them too)."""
    return copy.deepcopy(made)
