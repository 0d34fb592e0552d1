"""Dataset imports: stream a file, write problems, nodes, traces and grades in bulk.

All-or-nothing: one transaction; a bad record raises RecordError naming the line and field,
and so does a record the database refuses all the same. Idempotent: a record already
imported creates nothing.

Two halves: parsing and building rows (`parsing.py`, `rows.py`: no database), and writing
them here. For a large file on PostgreSQL the first half runs in a process of its own
(`pipeline.py`), so that parsing overlaps the writes; the writer stays in this process, in the
caller's transaction.
"""

import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction

from annotation.core.bulk import existing_pairs, lock_keys, reserve_ids, row_triggers_skipped
from annotation.core.models import Project
from annotation.datasets import pipeline
from annotation.datasets.errors import RecordError
from annotation.datasets.parsing import IMPORT_FORMATS, Message, batched, parsed_records, produce
from annotation.datasets.reader import check_layout_matches_name, iter_records, record_layout
from annotation.datasets.rows import ChunkRows, ProblemWanted, Reply, Request, RowBuilder, TraceRows
from annotation.grading.models import GradeSource
from annotation.grading.services import (
    dataset_source,
    imported_grades_insert,
    imported_grades_insert_exactly,
)
from annotation.problems.models import Problem, Trace
from annotation.problems.services import (
    imported_nodes_insert,
    imported_steps_insert,
    imported_traces_copy,
    imported_traces_insert,
)

__all__ = ["IMPORT_FORMATS", "MAX_REPORTED_ERRORS", "ImportReport", "import_dataset"]

ProgressCallback = Callable[[int, int], None]  # (records written, records in the file)
MAX_REPORTED_ERRORS = 1000  # --skip-invalid: the report lists these many, and counts the rest


@dataclass
class ImportReport:
    records: int = 0
    problems_created: int = 0
    traces_created: int = 0
    traces_existing: int = 0
    nodes_created: int = 0
    grades_created: int = 0
    invalid_records: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first ones only

    def add_error(self, error: RecordError) -> None:
        self.invalid_records += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error.as_dict())

    def add_skipped(self, count: int, errors: list[dict[str, Any]]) -> None:
        """Invalid records skipped by a parsing process: how many, and the first ones."""
        self.invalid_records += count
        self.errors += errors[: MAX_REPORTED_ERRORS - len(self.errors)]

    def error_lines(self) -> Iterator[str]:
        """The report of skipped records, JSONL: one line per listed error, then
        `{"omitted": N}` if there were more."""
        for error in self.errors:
            yield json.dumps(error) + "\n"
        if omitted := self.invalid_records - len(self.errors):
            yield json.dumps({"omitted": omitted}) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "problems_created": self.problems_created,
            "traces_created": self.traces_created,
            "traces_existing": self.traces_existing,
            "nodes_created": self.nodes_created,
            "grades_created": self.grades_created,
            "invalid_records": self.invalid_records,
        }


def import_dataset(
    *,
    project: Project,
    format_name: str,
    stream: IO[bytes],
    skip_invalid: bool = False,
    grade_answers: bool = True,
    on_progress: ProgressCallback | None = None,
    chunk_size: int | None = None,
    filename: str = "",
) -> ImportReport:
    """Import a whole file in one transaction; raises RecordError on the first bad record
    (nothing is written) unless skip_invalid.

    on_progress is called after each chunk, inside the transaction, with the records written
    and an estimate of the records in the file; a caller that stores progress where others
    can see it needs a connection of its own (see datasets/jobs.py). Then once more after
    the commit, with the final count.
    """
    if format_name not in IMPORT_FORMATS:
        raise ValueError(
            f"unknown format {format_name!r}; choose one of {', '.join(sorted(IMPORT_FORMATS))}"
        )
    report = ImportReport()
    size = _remaining_bytes(stream)
    layout = record_layout(stream)
    check_layout_matches_name(layout, filename)
    binary = connection.vendor == "postgresql"
    writer = _ChunkWriter(project, format_name, report, binary=binary)
    chunk_size = chunk_size or settings.STEPWISE_IMPORT_CHUNK

    def progress(rows: ChunkRows) -> None:
        report.records += rows.records
        if on_progress:
            read = stream.tell() if rows.read_bytes is None else rows.read_bytes
            on_progress(report.records, _estimated_total(size, read, report.records))

    with transaction.atomic():
        if binary and size is not None and size >= settings.STEPWISE_IMPORT_PROCESS_BYTES:
            options = pipeline.Options(
                format_name, chunk_size, skip_invalid, grade_answers, binary, layout
            )
            with pipeline.parsing_process(stream, options) as child:
                for message in child.messages():
                    if (answer := writer.handle(message, progress)) is not None:
                        child.reply(answer)
                report.add_skipped(*child.skipped())
        else:
            _import_here(
                stream,
                layout,
                writer,
                progress,
                chunk_size,
                skip_invalid=skip_invalid,
                grade_answers=grade_answers,
                binary=binary,
            )
    if on_progress:
        on_progress(report.records, report.records)
    return report


def _import_here(
    stream: IO[bytes],
    layout: str,
    writer: "_ChunkWriter",
    progress: Callable[[ChunkRows], None],
    chunk_size: int,
    *,
    skip_invalid: bool,
    grade_answers: bool,
    binary: bool,
) -> None:
    """Both halves in this process, in turn: for small files, where starting a process would
    cost more than it saves, and for databases other than PostgreSQL."""
    replies: deque[Reply] = deque()

    def send(message: Message) -> None:
        if (answer := writer.handle(message, progress)) is not None:
            replies.append(answer)

    records = parsed_records(
        iter_records(stream, layout=layout),
        IMPORT_FORMATS[writer.format_name].parse,
        writer.report.add_error if skip_invalid else None,
    )
    produce(
        batched(records, chunk_size),
        RowBuilder(binary=binary, grade_answers=grade_answers),
        send,
        replies.popleft,
        ahead=False,
    )


def _remaining_bytes(stream: IO[bytes]) -> int | None:
    try:
        position = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(position)
        return end - position
    except (OSError, ValueError):
        return None


def _estimated_total(size: int | None, read: int, done: int) -> int:
    """Records in the file, extrapolated from the bytes read so far."""
    if not size or not read:
        return done
    return max(done, round(done * size / read))


# What the database raises for a value it cannot hold; other errors are not the file's fault.
_REFUSED = (DataError, IntegrityError, UnicodeEncodeError)


def _reason(error: Exception) -> str:
    """The database's one-line message, without the statement or its data."""
    diagnostic = getattr(error.__cause__, "diag", None)
    if diagnostic is not None and diagnostic.message_primary:
        return str(diagnostic.message_primary)
    return str(error).splitlines()[0]


class _ChunkWriter:
    """Answers the parsing side's questions (problems and grade sources, found or created) and
    writes the chunks of rows it sends, inside the caller's transaction."""

    def __init__(
        self, project: Project, format_name: str, report: ImportReport, *, binary: bool
    ) -> None:
        self.project = project
        self.format_name = format_name
        self.report = report
        self.binary = binary
        self.traces_were_new = True
        self.nodes_were_new = True

    def handle(self, message: Message, progress: Callable[[ChunkRows], None]) -> Reply | None:
        kind, body = message
        if kind == "request":
            return self.resolve(body)
        if kind == "rows":
            self.write(body)
            progress(body)
        return None

    # Questions: problems and sources -----------------------------------------------------

    def resolve(self, request: Request) -> Reply:
        found = self._found_problems({w.key for w in request.problems})
        new = [w for w in request.problems if w.key not in found]
        if new:
            found.update(self._created_problems(new))
        return Reply(
            [found[w.key] for w in request.problems],
            [dataset_source(name=name).pk for name in request.graders],
            reserve_ids(Trace, request.traces) if self.binary and request.traces else None,
        )

    def _found_problems(self, keys: set[str]) -> dict[str, tuple[int, str | None]]:
        if not keys:
            return {}
        ids = [k[3:] for k in keys if k.startswith("id:")]
        digests = [k[5:] for k in keys if k.startswith("text:")]
        found = Problem.objects.filter(project=self.project, external_id__in=ids) | (
            Problem.objects.filter(project=self.project, text_digest__in=digests)
        )
        by_key: dict[str, tuple[int, str | None]] = {}
        for pk, external_id, digest, answer in found.order_by("id").values_list(
            "id", "external_id", "text_digest", "answer"
        ):
            by_key.setdefault("id:" + external_id, (pk, answer))
            by_key.setdefault("text:" + digest, (pk, answer))
        return {key: by_key[key] for key in keys if key in by_key}

    def _created_problems(self, new: list[ProblemWanted]) -> dict[str, tuple[int, str | None]]:
        """Create them; should the database refuse one, RecordError names its line."""
        problems = [self._new_problem(w) for w in new]
        try:
            with transaction.atomic():
                Problem.objects.bulk_create(problems)
        except _REFUSED as error:
            raise self._refused_problem(new, error) from None
        self.report.problems_created += len(problems)
        return {w.key: (p.pk, p.answer) for w, p in zip(new, problems, strict=True)}

    def _refused_problem(self, new: list[ProblemWanted], error: Exception) -> RecordError:
        for wanted in new:  # one at a time: rare, and a few thousand at most
            try:
                with transaction.atomic():
                    Problem.objects.bulk_create([self._new_problem(wanted)])
            except _REFUSED as refused:
                return RecordError(
                    wanted.line, "(record)", f"the database refused it: {_reason(refused)}"
                )
        return RecordError(
            new[0].line,
            "(record)",
            f"the database refused lines {new[0].line} to {new[-1].line}: {_reason(error)}",
        )

    def _new_problem(self, wanted: ProblemWanted) -> Problem:
        record = wanted.record
        return Problem(
            project=self.project,
            external_id=record.external_id or f"sha256:{wanted.digest[:32]}",
            text=record.text,
            text_digest=wanted.digest,
            answer=record.answer,
            solution=record.solution,
            source=self.format_name,
            subject=record.subject,
            level=record.level,
            metadata=record.metadata,
        )

    # Rows ------------------------------------------------------------------------------

    def write(self, chunk: ChunkRows) -> None:
        """Write one chunk, inside the caller's transaction. Should the database refuse a
        record all the same, RecordError names its line (and shows no SQL)."""
        try:
            self._write_in_savepoint(chunk.traces, chunk.sources, whole=True)
        except _REFUSED as error:
            raise self._refusal(chunk.traces, chunk.sources, error) from None

    def _write_in_savepoint(self, traces: list[TraceRows], sources: set[int], whole: bool) -> None:
        with transaction.atomic(), row_triggers_skipped() as unchecked:
            self._write(traces, whole)
            if unchecked:
                self._lock_references({t.problem_id for t in traces}, sources)

    def _refusal(self, chunk: list[TraceRows], sources: set[int], error: Exception) -> RecordError:
        """Which record the database refused: the chunk is written again by halves, keeping
        the halves that go in, down to one record (about two chunks' writes)."""
        records = chunk
        while len(records) > 1:
            half = records[: len(records) // 2]
            try:
                self._write_in_savepoint(half, sources, whole=False)
                records = records[len(half) :]
            except _REFUSED:
                records = half
        try:
            self._write_in_savepoint(records, sources, whole=False)
        except _REFUSED as refused:
            return RecordError(
                records[0].line, "(record)", f"the database refused it: {_reason(refused)}"
            )
        return RecordError(  # refused together, not one by one
            chunk[0].line,
            "(record)",
            f"the database refused lines {chunk[0].line} to {chunk[-1].line}: {_reason(error)}",
        )

    def _lock_references(self, problems: set[int], sources: set[int]) -> None:
        """Instead of a check per row: the problems and sources the chunk references must
        still be there, and stay until the transaction ends. (Its traces and nodes are new
        or were locked when found.)"""
        for model, keys in ((Problem, problems), (GradeSource, sources)):
            if missing := keys - lock_keys(model, keys):
                raise RuntimeError(
                    f"{model._meta.verbose_name} {sorted(missing)} deleted during the import"
                )

    def _write(self, traces: list[TraceRows], whole: bool) -> None:
        """`whole`: the chunk as the parsing side built it, so that the grades' is_current
        it set holds unless a node was there before (or a trace is skipped)."""
        fresh, trace_ids = self._new_traces(traces)
        if not fresh:
            return
        self.report.traces_created += len(fresh)
        nodes: dict[Any, Any] = {}
        for trace in fresh:
            nodes.update(zip(trace.node_keys, trace.nodes, strict=True))
        # A chunk's nodes are all new in a first import: written without looking, as long
        # as the last chunk's were.
        new_nodes = imported_nodes_insert(nodes, expect_new=self.nodes_were_new)
        self.nodes_were_new = len(new_nodes) == len(nodes)
        self.report.nodes_created += len(new_nodes)
        imported_steps_insert(self._with_ids([t.steps for t in fresh], trace_ids))
        grades = self._with_ids([t.grades for t in fresh], trace_ids)
        if whole and len(fresh) == len(traces) and len(new_nodes) == len(nodes):
            imported_grades_insert(grades)
        else:
            imported_grades_insert_exactly(grades, new_nodes)
        self.report.grades_created += sum(t.grade_count for t in fresh)

    def _new_traces(self, traces: list[TraceRows]) -> tuple[list[TraceRows], list[int | None]]:
        """Write the traces that are not in the database yet; returns them and their ids.
        A first import's are all new: on PostgreSQL, written without looking first as long
        as the last chunk's were (the unique constraint says when one was there)."""
        if self.binary and self.traces_were_new:
            try:
                with transaction.atomic():
                    imported_traces_insert([t.row for t in traces])
                return traces, [t.trace_id for t in traces]
            except IntegrityError:
                pass  # one was there; or one is refused, and is again below
        existing = existing_pairs(
            Trace, ("problem", "external_id"), {(t.problem_id, t.external_id) for t in traces}
        )
        fresh: list[TraceRows] = []
        for trace in traces:
            key = (trace.problem_id, trace.external_id)
            if key not in existing:
                existing.add(key)
                fresh.append(trace)
        self.report.traces_existing += len(traces) - len(fresh)
        self.traces_were_new = len(fresh) == len(traces)
        if not fresh:
            return [], []
        if self.binary:
            imported_traces_insert([t.row for t in fresh])
            return fresh, [t.trace_id for t in fresh]
        return fresh, [*imported_traces_copy([t.row[1:] for t in fresh])]

    def _with_ids(self, blocks: list[Any], trace_ids: list[Any]) -> list[Any]:
        """Blocks of rows with their trace's id: as they are on PostgreSQL (the ids were
        taken ahead), the first field filled in elsewhere."""
        if self.binary:
            return blocks
        return [
            [(trace_id, *row[1:]) for row in block]
            for block, trace_id in zip(blocks, trace_ids, strict=True)
        ]
