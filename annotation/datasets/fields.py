"""Typed field access for parsed JSON, raising RecordError with the line and field path."""

from __future__ import annotations

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

    def string(self, key: str, *, required: bool = True, nullable: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None and (nullable or not required):
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_type(value)}")
        return value

    def text(self, key: str) -> str:
        """A required non-empty string."""
        value = self.string(key)
        assert value is not None
        if not value.strip():
            raise self.error(key, "is empty")
        return value

    def integer(self, key: str, *, required: bool = True, nullable: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None and (nullable or not required):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_type(value)}")
        return value

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
