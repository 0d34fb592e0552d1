"""The first half of an import, which needs no database: records decoded, parsed, checked for
a second record of the same identity, and batched; then each batch's rows built
(`rows.RowBuilder`) once the writer has said what the batch's problems and grade sources are.

It runs in a process of its own for large files (`pipeline.py`), in the importing process for
small ones; the writer answers it through `send` and `reply` either way.
"""

import hashlib
import itertools
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from annotation.core.text_policy import without_invisible
from annotation.datasets.errors import RecordError
from annotation.datasets.formats import gsm8k, math, math_shepherd, prm800k, processbench
from annotation.datasets.records import ImportRecord
from annotation.datasets.rows import Reply, Request, RowBuilder, problem_key

IMPORT_FORMATS: dict[str, ModuleType] = {
    m.NAME: m for m in (math, gsm8k, prm800k, processbench, math_shepherd)
}

# What goes to the writer: ("request", Request) and ("rows", ChunkRows), in turn.
Message = tuple[str, Any]


def parsed_records(
    rows: Iterator[tuple[int, Any]],
    parse: Callable[[int, Any], ImportRecord],
    on_invalid: Callable[[RecordError], None] | None,
) -> Iterator[ImportRecord]:
    """The parsed records; with `on_invalid` (skip invalid records), the bad ones go there."""
    first_line: dict[bytes, int] = {}  # by a digest of each record's identity
    while True:
        try:
            line, obj = next(rows)
            if isinstance(obj, RecordError):
                raise obj
            record = parse(line, obj)
            _answers_without_invisible(record)
            _check_steps_have_text(record)
            _check_first_of_its_identity(record, first_line)
        except StopIteration:
            return
        except RecordError as error:
            if on_invalid is None or error.field == "(file)":
                raise
            on_invalid(error)
            continue
        yield record


def _answers_without_invisible(record: ImportRecord) -> None:
    """An answer "42" + U+200B is stored as "42" (annotation/core/text_policy.py)."""
    if record.problem.answer:
        record.problem.answer = without_invisible(record.problem.answer)
    if record.trace is not None and record.trace.final_answer:
        record.trace.final_answer = without_invisible(record.trace.final_answer)


def _check_steps_have_text(record: ImportRecord) -> None:
    """A step that is an empty string (or only spaces) is refused with its line: it would be
    a node with no text, graded and exported as if it said something."""
    if record.trace is None:
        return
    for step in record.trace.steps:
        if not step.text.strip():
            raise RecordError(
                record.line, f"steps[{step.position}]", "is empty; every step holds some text"
            )


def _check_first_of_its_identity(record: ImportRecord, first_line: dict[bytes, int]) -> None:
    """A second record of the same problem (or trace) in one file would be skipped as already
    imported: refused instead, so nothing is lost unseen."""
    identity = problem_key(record.problem)
    if record.trace is not None:
        identity += "\0" + record.trace.external_id
    digest = hashlib.blake2b(identity.encode(), digest_size=16).digest()
    earlier = first_line.setdefault(digest, record.line)
    if earlier != record.line:
        raise RecordError(
            record.line,
            record.key_field,
            f"the same as line {earlier}; a file holds each record once",
        )


def batched(records: Iterator[ImportRecord], size: int) -> Iterator[list[ImportRecord]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def produce(
    chunks: Iterator[list[ImportRecord]],
    builder: RowBuilder,
    send: Callable[[Message], None],
    reply: Callable[[], Reply],
    *,
    ahead: bool,
    position: Callable[[], int | None] = lambda: None,
) -> None:
    """Ask the writer about each chunk, then send its rows. `ahead`: the question about the
    next chunk goes before the rows of this one, so that the writer answers it at once and this
    side builds while the writer writes (a process of its own); otherwise strictly in turn.

    A bad record raises RecordError after the rows before it are sent, so that the writer
    meets a refusal of an earlier record by the database first, as it would reading in turn.
    """
    pending: tuple[list[ImportRecord], Request, int | None] | None = None

    def send_rows(chunk: list[ImportRecord], request: Request, read: int | None) -> None:
        send(("rows", builder.rows(chunk, request, reply(), read)))

    try:
        for chunk in chunks:
            request = builder.request(chunk)
            send(("request", request))
            if not ahead:
                send_rows(chunk, request, position())
                continue
            if pending is not None:
                send_rows(*pending)
            pending = (chunk, request, position())
    except RecordError:
        if pending is not None:
            send_rows(*pending)
        raise
    if pending is not None:
        send_rows(*pending)
