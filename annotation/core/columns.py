"""What a column can hold, read from its model field: for validation that refuses a value
before the database would.

Integer ranges are those of the declared column types (smallint, integer, bigint), the same on
every database.
"""

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

# The longest text a person writes into a stored field that has no length of its own
# (guidelines, prompts): far above any real one, far below what would slow every page that
# shows it (a 2,000,000-character guidelines PATCH used to be stored).
TEXT_MAX_CHARS = 100_000
# A username, as django.contrib.auth's User stores it (its column's length).
USERNAME_MAX_CHARS = 150


def integer_range(model: type[models.Model], name: str) -> tuple[int, int]:
    field = model._meta.get_field(name)
    return BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]


def max_length(model: type[models.Model], name: str) -> int:
    field = model._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None
    return field.max_length
