"""Typed field access for parsed JSON, raising RecordError with the line and field path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from annotation.datasets.errors import RecordError

_MISSING = object()


class Fields:
    """Reads fields of one JSON object of one record, naming `prefix.key` in errors.

    A nested object keeps its parent and key, and spells its path only for an error:
    records are read by the million, errors are rare.
    """

    __slots__ = ("_key", "_parent", "line", "obj")

    def __init__(
        self,
        obj: Any,
        line: int,
        parent: Fields | _Item | None = None,
        key: str | int | None = None,
    ) -> None:
        self.obj = obj
        self.line = line
        self._parent = parent
        self._key = key
        if not isinstance(obj, dict):
            raise RecordError(
                line, self.prefix or "(record)", f"expected an object, got {_type(obj)}"
            )

    @property
    def prefix(self) -> str:
        if self._parent is None or self._key is None:
            return ""
        return self._parent.path(self._key)

    def path(self, key: str | int) -> str:
        prefix = self.prefix
        if isinstance(key, int):
            return f"{prefix}[{key}]"
        return f"{prefix}.{key}" if prefix else key

    def error(self, key: str | int, message: str) -> RecordError:
        return RecordError(self.line, self.path(key), message)

    def _get(self, key: str, required: bool) -> Any:
        value = self.obj.get(key, _MISSING)
        if value is _MISSING:
            if required:
                raise self.error(key, "is missing")
            return None
        return value

    def string(
        self,
        key: str,
        *,
        required: bool = True,
        nullable: bool = False,
        max_length: int | None = None,
    ) -> str | None:
        value = self._get(key, required)
        if value is None and (nullable or not required):
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_type(value)}")
        if max_length is not None and len(value) > max_length:
            raise self.error(key, f"is longer than {max_length} characters")
        return value

    def text(self, key: str, *, max_length: int | None = None) -> str:
        """A required non-empty string."""
        value = self.string(key, max_length=max_length)
        assert value is not None
        if not value.strip():
            raise self.error(key, "is empty")
        return value

    def timestamp(self, key: str) -> str:
        """A required ISO 8601 date and time, kept as written."""
        value = self.string(key)
        assert value is not None
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise self.error(key, f"expected an ISO 8601 timestamp, got {shown(value)}") from None
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = True,
        nullable: bool = False,
        bounds: tuple[int, int] | None = None,
    ) -> int | None:
        value = self._get(key, required)
        if value is None and (nullable or not required):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_type(value)}")
        if bounds is not None:
            self.check_bounds(key, value, bounds)
        return value

    def check_bounds(self, key: str, value: int, bounds: tuple[int, int]) -> None:
        low, high = bounds
        if not low <= value <= high:
            raise self.error(key, f"expected an integer from {low} to {high}, got {value}")

    def check_count(self, key: str, items: list[Any], what: str, limit: int) -> None:
        if len(items) > limit:
            raise self.error(key, f"has {len(items)} {what}; at most {limit}")

    def boolean(self, key: str, *, required: bool = True, nullable: bool = False) -> bool | None:
        value = self._get(key, required)
        if value is None and (nullable or not required):
            return None
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_type(value)}")
        return value

    def array(self, key: str, *, required: bool = True, nullable: bool = False) -> list[Any] | None:
        value = self._get(key, required)
        if value is None and (nullable or not required):
            return None
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_type(value)}")
        return value

    def child(self, key: str, *, required: bool = True, nullable: bool = False) -> Fields | None:
        value = self._get(key, required)
        if value is None and (nullable or not required):
            return None
        return Fields(value, self.line, self, key)

    def item(self, key: str, index: int) -> Fields:
        """The object at position `index` of the list field `key`."""
        return Fields(self.obj[key][index], self.line, _Item(self, key), index)

    def rating(self, key: str) -> int | None:
        value = self.integer(key, nullable=True)
        if value is not None and value not in (-1, 0, 1):
            raise self.error(key, f"expected -1, 0, 1 or null, got {value}")
        return value


class _Item:
    """The list field `key` of `fields`, as the parent of one of its items."""

    __slots__ = ("fields", "key")

    def __init__(self, fields: Fields, key: str) -> None:
        self.fields = fields
        self.key = key

    def path(self, index: str | int) -> str:
        return f"{self.fields.path(self.key)}[{index}]"


def shown(value: Any) -> str:
    """A value for an error message: strings (cut when long) and numbers as written, anything
    else by its type."""
    if isinstance(value, str):
        return repr(value if len(value) <= 50 else value[:47] + "...")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return _type(value)


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
