"""Frozen dataclasses to and from JSON, checked field by field against their type hints.

`from_json(cls, data)` raises ParamsError naming the field (`model.kind`, `problem_ids[3]`)
for a missing or unknown key, a value of the wrong type, or a value the class's
``__post_init__`` refuses; never a KeyError or a TypeError. The types it reads are the ones
job parameters use: bool, int, float, str, Any, Literal, X | None, list, tuple[X, ...],
dict[str, X] and nested dataclasses.
"""

from __future__ import annotations

import types
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from django.core.exceptions import ValidationError

T = TypeVar("T")
WHOLE = "params"  # the field name of an error about the object as a whole


class ParamsError(ValidationError):
    """A parameter that cannot be used, with the field it is about.

    A ValidationError, so that a service raising it answers a form or an API request with
    the message under the field's name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__({field: reason})
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"field {self.field}: {self.reason}"

    @property
    def detail(self) -> str:
        """The reason, after the field's name unless the error is about the whole object."""
        return self.reason if self.field == WHOLE else f"{self.field}: {self.reason}"


def to_json(value: Any) -> Any:
    """A dataclass (and what it holds) as JSON values: tuples become lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def from_json(cls: type[T], data: object, path: str = "") -> T:
    """An instance of the dataclass `cls` from JSON; `path` prefixes field names in errors."""
    if not isinstance(data, dict):
        raise ParamsError(path.rstrip(".") or WHOLE, f"expected an object, got {_kind(data)}")
    hints = get_type_hints(cls)
    specs = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(key) for key in data if key not in specs)
    if unknown:
        raise ParamsError(path + unknown[0], "unknown field")
    values = {}
    for name, spec in specs.items():
        if name in data:
            values[name] = _read(hints[name], data[name], path + name)
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ParamsError(path + name, "missing")
    try:
        return cls(**values)
    except ParamsError as error:
        if path:
            raise ParamsError(path + error.field, error.reason) from None
        raise
    except (TypeError, ValueError) as error:
        raise ParamsError(path.rstrip(".") or WHOLE, str(error)) from None


def _read(hint: Any, value: Any, path: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _read(inner, value, path)
    if origin is Literal:
        if any(value == arg and type(value) is type(arg) for arg in args):
            return value
        choices = ", ".join(repr(arg) for arg in args)
        raise ParamsError(path, f"expected one of {choices}, got {value!r}")
    if is_dataclass(hint):
        return from_json(hint, value, path + ".")  # type: ignore[arg-type]
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ParamsError(path, f"expected a list, got {_kind(value)}")
        items = [_read(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(path, f"expected an object, got {_kind(value)}")
        return {key: _read(args[1], item, f"{path}.{key}") for key, item in value.items()}
    return _read_scalar(hint, value, path)


def _read_scalar(hint: Any, value: Any, path: str) -> Any:
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return value  # an int is a float to the type checker too (JSON writes 2.0 as 2.0)
    if hint in (bool, int, str) and isinstance(value, hint):
        if hint is int and isinstance(value, bool):
            raise ParamsError(path, f"expected a whole number, got {value!r}")
        return value
    if hint in (bool, int, float, str):
        expected = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
        raise ParamsError(path, f"expected {expected[hint]}, got {_kind(value)}")
    raise TypeError(f"{path}: typed_json cannot read values of type {hint!r}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    names = {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number"}
    return f"{names.get(type(value), type(value).__name__)} {value!r}"[:80]
