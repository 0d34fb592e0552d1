"""JSON from outside (uploaded files, request bodies) decoded into values that every part of
the system can store and read back, or refused with the place and the reason.

Refused, each naming its field path (`label.steps[2].text`; "" for the whole document):
- NaN, Infinity, and numbers too large for a float (`1e999`);
- integers beyond 64 bits (PostgreSQL's bigint), or with `int64=False` (values kept verbatim in
  JSON columns) beyond the 4,300 digits Python reads and writes back;
- the NUL character (PostgreSQL's text and jsonb cannot hold it) and lone surrogates
  (`"\\ud800"` has no UTF-8 form, so no driver can send it);
- a key twice in one object (the standard library keeps the last one silently);
- nesting deeper than `max_depth` (encoders, copies and templates recurse).

Fast path: msgspec decodes (it refuses NaN, Infinity, out-of-range numbers and lone surrogates
itself) and one walk checks the rest. Anything doubtful goes to the exact path: the standard
library's decoder with hooks that leave a marker in place of each refused value, then a walk
that names the first marker, NUL or surrogate it meets.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

MAX_DEPTH = 32
MAX_PATH_CHARS = 200  # a path is made of the document's own keys, which may be long
MAX_DIGITS = 4300  # Python's int() and str() refuse more (sys.get_int_max_str_digits)
_INT64 = (-(2**63), 2**63 - 1)
_ANY_INT = (-(10**MAX_DIGITS) + 1, 10**MAX_DIGITS - 1)


class JSONInputError(ValueError):
    """Where the document is wrong (a field path, "" for the whole of it) and what is wrong;
    from raw_decode, also where the refused value ends in the text (None if unknown)."""

    def __init__(self, path: str, message: str, end: int | None = None) -> None:
        path = _shortened(path, MAX_PATH_CHARS)
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.end = end


def decode(data: bytes, *, max_depth: int = MAX_DEPTH, int64: bool = True) -> Any:
    integers = _INT64 if int64 else _ANY_INT
    try:
        value = _FAST.decode(data)
    except (msgspec.MsgspecError, RecursionError):
        return _decode_exactly(data, max_depth, integers)
    if (
        _NEEDS_A_CLOSER_LOOK.search(data) is None
        and _within([value], max_depth + 1, *integers)  # in a list: scalars walk the same way
        # A repeated key leaves no trace in the value, so it is found by counting colons: in
        # the text, one per key written plus those in strings; in the value written again,
        # one per key kept plus those in the strings kept (msgspec never escapes a colon).
        # With no colon escaped in the text, the counts differ exactly when a key repeats.
        and data.count(b":") == _ENCODER.encode(value).count(b":")
    ):
        return value
    return _decode_exactly(data, max_depth, integers)


def raw_decode(text: str, *, max_depth: int = MAX_DEPTH, int64: bool = True) -> tuple[Any, int]:
    """The first JSON value of `text` and where it ends (the exact path only). An incomplete
    value raises json.JSONDecodeError, so a reader can fetch more text and try again."""
    try:
        value, end = _EXACT.raw_decode(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    try:
        _check(value, "", max_depth, max_depth, _INT64 if int64 else _ANY_INT)
    except JSONInputError as error:
        error.end = end
        raise
    return value, end


def check_string(text: str, path: str, prefix: str = "") -> None:
    """Refuses a NUL character or a lone surrogate (e.g. in a form field)."""
    if "\x00" in text:
        raise JSONInputError(path, f"{prefix}contains a NUL character (\\u0000)")
    if not text.isascii() and (surrogate := _SURROGATE.search(text)):
        raise JSONInputError(
            path, f"{prefix}contains a lone surrogate (\\u{ord(surrogate.group()):04x})"
        )


def _syntax_message(error: json.JSONDecodeError) -> str:
    at = f"column {error.colno}"
    if error.lineno > 1:
        at = f"line {error.lineno} {at}"
    return f"invalid JSON: {error.msg} at {at}"


# The fast path --------------------------------------------------------------------------------

_FAST = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
# Decoded from an escape, a NUL would pass the fast path unseen and a colon spoil its count.
_NEEDS_A_CLOSER_LOOK = re.compile(rb"\\u(?:0000|003[aA])")


def _within(value: Any, levels: int, low: int, high: int) -> bool:
    """Whether a decoded container is nested at most `levels` deep and holds no integer out
    of [low, high]."""
    if levels == 0:
        return False
    children: Any = value.values() if type(value) is dict else value
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            if not _within(child, levels - 1, low, high):
                return False
        elif kind is int and not low <= child <= high:
            return False
    return True


# The exact path -------------------------------------------------------------------------------


class _Refused:
    """Stands where the exact decoder refused a value, so that the walk can say where it was."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                obj[key] = _Refused("appears twice in one object")
            seen.add(key)
    return obj


def _integer(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > MAX_DIGITS:  # int() would raise ValueError
        return _Refused(f"is an integer of more than {MAX_DIGITS} digits")
    return int(text)


def _float(text: str) -> float | _Refused:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        return _Refused(f"{_shortened(text)} is too large for a number")
    return value


def _constant(text: str) -> _Refused:
    return _Refused(f"{text} is not a JSON number")


_EXACT = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_integer, parse_float=_float, parse_constant=_constant
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode_exactly(data: bytes, max_depth: int, integers: tuple[int, int]) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JSONInputError("", f"invalid UTF-8 at byte {error.start + 1}") from None
    try:
        value = _EXACT.decode(text)
    except json.JSONDecodeError as error:
        raise JSONInputError("", _syntax_message(error)) from None
    except RecursionError:
        raise _too_deep(max_depth) from None
    _check(value, "", max_depth, max_depth, integers)
    return value


def _too_deep(max_depth: int) -> JSONInputError:
    return JSONInputError("", f"is nested more than {max_depth} levels deep")


def _check(value: Any, path: str, levels: int, max_depth: int, integers: tuple[int, int]) -> None:
    if isinstance(value, str):
        check_string(value, path)
    elif isinstance(value, _Refused):
        raise JSONInputError(path, value.message)
    elif isinstance(value, int) and not integers[0] <= value <= integers[1]:
        raise JSONInputError(path, "is an integer beyond 64 bits")  # longer ones are _Refused
    elif isinstance(value, dict | list):
        if levels == 0:
            raise _too_deep(max_depth)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            if isinstance(key, str):
                check_string(key, path, "has a key that ")
                where = f"{path}.{key}" if path else key
            else:
                where = f"{path}[{key}]"
            _check(child, where, levels - 1, max_depth, integers)


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
