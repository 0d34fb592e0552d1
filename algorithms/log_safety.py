"""Text from outside (exception messages, an endpoint's answer) made safe to write on one line.

A log line that carries such text verbatim can be made to look like several lines, one of them
forged; a terminal can be sent escape sequences. Every control character is written as an
escape instead (`\\n`, `\\r`, `\\t`, `\\x1b`, `\\u2028`), so one record stays one line.
"""

from __future__ import annotations

import logging
import traceback
import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(character: str) -> str:
    if character in _NAMED:
        return _NAMED[character]
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# C0, DEL, C1, and the Unicode line and paragraph separators (categories Cc, Zl, Zp).
_ESCAPES = {
    code: _escape(chr(code))
    for code in range(0x3000)
    if unicodedata.category(chr(code)) in ("Cc", "Zl", "Zp")
}


def escape_controls(text: str) -> str:
    """`text` with every control and line-separator character written as an escape."""
    return text.translate(_ESCAPES)


def format_exception_escaped(error: BaseException) -> str:
    """The usual traceback, except that each exception's message has its controls escaped.

    The traceback's own lines stay lines (they come from source files); what an exception's
    message says cannot start a line of its own."""
    parts: list[str] = []
    seen: set[int] = set()

    def add(exc: BaseException) -> None:
        seen.add(id(exc))
        if exc.__cause__ is not None and id(exc.__cause__) not in seen:
            add(exc.__cause__)
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
            )
        elif (
            exc.__context__ is not None
            and not exc.__suppress_context__
            and id(exc.__context__) not in seen
        ):
            add(exc.__context__)
            parts.append(
                "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        if exc.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(exc.__traceback__))
        name = type(exc).__qualname__
        module = type(exc).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        message = escape_controls(str(exc))
        parts.append(f"{name}: {message}\n" if message else f"{name}\n")

    add(error)
    return "".join(parts).rstrip("\n")


class EscapeControlCharacters(logging.Filter):
    """A handler filter: the record's message and exception messages come out escaped.

    Installed on the web's handlers by settings.LOGGING and on the Celery worker's handlers by
    workers.celery_app (Celery replaces the root logger's handlers when a worker starts)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: the handler reports them as it always does
            return True
        record.msg = escape_controls(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = format_exception_escaped(record.exc_info[1])
        return True


def escape_logs_of(logger: logging.Logger) -> None:
    """Add the filter to every handler of `logger` that does not have it yet."""
    for handler in logger.handlers:
        if not any(isinstance(f, EscapeControlCharacters) for f in handler.filters):
            handler.addFilter(EscapeControlCharacters())
