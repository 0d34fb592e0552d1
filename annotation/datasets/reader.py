"""Stream records out of JSONL files or JSON arrays in constant memory.

Every record comes with the line it starts on, so errors can name it.
"""

import codecs
import json
from collections.abc import Iterator
from typing import IO, Any

from annotation.core import strict_json
from annotation.core.strict_json import JSONInputError
from annotation.datasets.errors import RecordError

MAX_RECORD_BYTES = 4 * 1024 * 1024
_CHUNK = 1 << 16


def iter_records(
    stream: IO[bytes], *, max_record_bytes: int = MAX_RECORD_BYTES, layout: str | None = None
) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded JSON value) for a JSONL file or a JSON array file.

    A record that cannot be decoded or that holds a value refused by `strict_json` (NaN, a
    NUL, a repeated key, ...; big integers are kept) comes as a RecordError value; errors
    that end the file (empty, broken array) are raised, with the field "(file)". `layout`
    ("array" or "jsonl", from `record_layout`) lets a stream that cannot seek be read.
    """
    if (layout or record_layout(stream)) == ARRAY:
        yield from _iter_array(stream, max_record_bytes)
    else:
        yield from _iter_jsonl(stream, max_record_bytes)


ARRAY, JSONL = "array", "jsonl"
BOM = codecs.BOM_UTF8
BOM_REFUSED = (
    "the file starts with a byte-order mark (U+FEFF, bytes EF BB BF): save it as UTF-8 "
    "without a BOM"
)


def check_layout_matches_name(layout: str, filename: str) -> None:
    """A file named .jsonl holds JSON lines: a JSON array in it (a pretty-printed export, say)
    was a mistake, refused with what it is instead of read as something else."""
    if layout == ARRAY and filename.lower().endswith(".jsonl"):
        raise RecordError(
            1,
            "(file)",
            "the file is a JSON array ([...]) but its name ends in .jsonl (JSON lines, one "
            "record per line): write one record per line, or name it .json to import an array",
        )


def record_layout(stream: IO[bytes]) -> str:
    """Whether the (seekable) stream holds a JSON array or JSON lines; raises for an empty one."""
    first = _peek_non_space(stream)
    if first is None:
        raise RecordError(1, "(file)", "the file is empty")
    return ARRAY if first == b"[" else JSONL


def _peek_non_space(stream: IO[bytes]) -> bytes | None:
    start = stream.tell()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            stream.seek(start)
            return None
        stripped = chunk.lstrip()
        if stripped:
            stream.seek(start)
            return stripped[:1]


def _loads_line(raw: bytes, line: int) -> Any:
    try:
        return strict_json.decode(raw, int64=False)
    except JSONInputError as error:
        raise RecordError(line, error.path or "(record)", error.message) from None


def _iter_jsonl(stream: IO[bytes], max_record_bytes: int) -> Iterator[tuple[int, Any]]:
    """Lines that cannot be decoded are yielded as RecordError values, so that a caller
    skipping bad records can go on with the next line."""
    line = 0
    while True:
        raw = stream.readline(max_record_bytes + 1)
        if not raw:
            return
        line += 1
        if line == 1 and raw.startswith(BOM):
            raise RecordError(1, "(file)", BOM_REFUSED)
        if len(raw) > max_record_bytes and not raw.endswith(b"\n"):
            while (rest := stream.readline(_CHUNK)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the over-long line
            yield (
                line,
                RecordError(
                    line,
                    "(record)",
                    f"the line is longer than the limit of {max_record_bytes} bytes",
                ),
            )
            continue
        if not raw.strip():
            continue
        try:
            yield line, _loads_line(raw.rstrip(b"\r\n"), line)
        except RecordError as error:
            yield line, error


def _iter_array(stream: IO[bytes], max_record_bytes: int) -> Iterator[tuple[int, Any]]:
    """Decode the elements of a top-level JSON array one at a time."""
    text_decoder = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    line = 1  # the line of buffer[0]
    eof = False

    def read_more() -> None:
        nonlocal buffer, eof
        chunk = stream.read(_CHUNK)
        eof = not chunk
        try:
            buffer += text_decoder.decode(chunk, final=eof)
        except UnicodeDecodeError:
            raise RecordError(line + buffer.count("\n"), "(record)", "invalid UTF-8") from None

    def skip_space() -> None:
        nonlocal buffer, line
        stripped = buffer.lstrip()
        line += buffer[: len(buffer) - len(stripped)].count("\n")
        buffer = stripped

    def next_char() -> str:
        skip_space()
        while not buffer and not eof:
            read_more()
            skip_space()
        return buffer[:1]

    next_char()
    buffer = buffer[1:]  # the opening bracket, checked by the caller
    expect_element = True
    while True:
        char = next_char()
        if char == "":
            raise RecordError(line, "(file)", "the JSON array is not closed")
        if char == "]":
            buffer = buffer[1:]
            if next_char():
                raise RecordError(line, "(file)", "unexpected data after the closing bracket")
            return
        if char == "," and not expect_element:
            buffer = buffer[1:]
            expect_element = True
            continue
        if not expect_element:
            raise RecordError(line, "(file)", "expected ',' or ']' between array elements")
        while True:
            try:
                value, end = strict_json.raw_decode(buffer, int64=False)
                break
            except JSONInputError as error:
                if error.end is None:  # nested too deep to find where the element ends
                    raise RecordError(line, "(file)", error.message) from None
                value, end = RecordError(line, error.path or "(record)", error.message), error.end
                break
            except json.JSONDecodeError as exc:
                if eof:  # the array is broken: no later element can be found
                    raise RecordError(
                        line + exc.lineno - 1,
                        "(file)",
                        f"invalid JSON: {exc.msg} at column {exc.colno}",
                    ) from None
                if len(buffer) > max_record_bytes:
                    raise RecordError(
                        line,
                        "(file)",
                        f"the record is longer than the limit of {max_record_bytes} bytes",
                    ) from None
                read_more()  # the element may continue in the next chunk
        yield line, value
        line += buffer[:end].count("\n")
        buffer = buffer[end:]
        expect_element = False
