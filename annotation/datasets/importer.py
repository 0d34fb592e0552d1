"""Dataset imports: stream a file, write problems, nodes, traces and grades in bulk.

All-or-nothing: one transaction; a bad record raises RecordError naming the line and field,
and so does a record the database refuses all the same. Idempotent: a record already
imported creates nothing.
"""

import hashlib
import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import IO, Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from algorithms.answers import answers_equivalent_many
from annotation.core.bulk import existing_pairs, lock_keys, row_triggers_skipped
from annotation.core.models import Project
from annotation.datasets.errors import RecordError
from annotation.datasets.formats import gsm8k, math, math_shepherd, prm800k, processbench
from annotation.datasets.reader import iter_records
from annotation.datasets.records import ImportRecord, ProblemRecord, TraceRecord
from annotation.grading.models import GradeSource
from annotation.grading.services import dataset_source, imported_grades_copy
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.services import (
    imported_nodes_copy,
    imported_steps_copy,
    imported_traces_copy,
)
from annotation.problems.tree import place_steps, text_digest

IMPORT_FORMATS: dict[str, ModuleType] = {
    m.NAME: m for m in (math, gsm8k, prm800k, processbench, math_shepherd)
}

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
    parse = IMPORT_FORMATS[format_name].parse
    report = ImportReport()
    size = _remaining_bytes(stream)
    writer = _ChunkWriter(project, format_name, report, grade_answers=grade_answers)
    records = _parsed(iter_records(stream), parse, report, skip_invalid)
    with transaction.atomic():
        for chunk in _batched(records, chunk_size or settings.STEPWISE_IMPORT_CHUNK):
            writer.write(chunk)
            report.records += len(chunk)
            if on_progress:
                on_progress(report.records, _estimated_total(stream, size, report.records))
    if on_progress:
        on_progress(report.records, report.records)
    return report


def _remaining_bytes(stream: IO[bytes]) -> int | None:
    try:
        position = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(position)
        return end - position
    except (OSError, ValueError):
        return None


def _estimated_total(stream: IO[bytes], size: int | None, done: int) -> int:
    """Records in the file, extrapolated from the bytes read so far."""
    read = stream.tell()
    if not size or not read:
        return done
    return max(done, round(done * size / read))


def _parsed(
    rows: Iterator[tuple[int, Any]],
    parse: Callable[[int, Any], ImportRecord],
    report: ImportReport,
    skip_invalid: bool,
) -> Iterator[ImportRecord]:
    """The parsed records; with skip_invalid, the bad ones go to the report instead."""
    first_line: dict[bytes, int] = {}  # by a digest of each record's identity
    while True:
        try:
            line, obj = next(rows)
            if isinstance(obj, RecordError):
                raise obj
            record = parse(line, obj)
            _check_first_of_its_identity(record, first_line)
        except StopIteration:
            return
        except RecordError as error:
            if not skip_invalid or error.field == "(file)":
                raise
            report.add_error(error)
            continue
        yield record


def _check_first_of_its_identity(record: ImportRecord, first_line: dict[bytes, int]) -> None:
    """A second record of the same problem (or trace) in one file would be skipped as already
    imported: refused instead, so nothing is lost unseen."""
    identity = _ChunkWriter._key(record.problem)
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


# What the database raises for a value it cannot hold; other errors are not the file's fault.
_REFUSED = (DataError, IntegrityError, UnicodeEncodeError)


def _reason(error: Exception) -> str:
    """The database's one-line message, without the statement or its data."""
    diagnostic = getattr(error.__cause__, "diag", None)
    if diagnostic is not None and diagnostic.message_primary:
        return str(diagnostic.message_primary)
    return str(error).splitlines()[0]


def _batched(items: Iterable[ImportRecord], size: int) -> Iterator[list[ImportRecord]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class _ChunkWriter:
    """Writes chunks of records, remembering problems and sources across chunks."""

    def __init__(
        self, project: Project, format_name: str, report: ImportReport, *, grade_answers: bool
    ) -> None:
        self.project = project
        self.format_name = format_name
        self.report = report
        self.grade_answers = grade_answers
        self.problem_by_key: dict[str, Problem] = {}
        self.source_ids: dict[str, int] = {}

    def write(self, chunk: list[ImportRecord]) -> None:
        """Write one chunk, inside the caller's transaction. Should the database refuse a
        record all the same, RecordError names its line (and shows no SQL)."""
        try:
            self._write_in_savepoint(chunk)
        except _REFUSED as error:
            raise self._refusal(chunk, error) from None

    def _write_in_savepoint(self, records: list[ImportRecord]) -> None:
        try:
            with transaction.atomic():
                self._write(records)
        except _REFUSED:
            # Rolled back: forget what the savepoint created (found again when needed).
            self.problem_by_key.clear()
            self.source_ids.clear()
            raise

    def _refusal(self, chunk: list[ImportRecord], error: Exception) -> RecordError:
        """Which record the database refused: the chunk is written again by halves, keeping
        the halves that go in, down to one record (about two chunks' writes)."""
        records = chunk
        while len(records) > 1:
            half = records[: len(records) // 2]
            try:
                self._write_in_savepoint(half)
                records = records[len(half) :]
            except _REFUSED:
                records = half
        try:
            self._write_in_savepoint(records)
        except _REFUSED as refused:
            return RecordError(
                records[0].line, "(record)", f"the database refused it: {_reason(refused)}"
            )
        return RecordError(  # refused together, not one by one
            chunk[0].line,
            "(record)",
            f"the database refused lines {chunk[0].line} to {chunk[-1].line}: {_reason(error)}",
        )

    def _write(self, chunk: list[ImportRecord]) -> None:
        with row_triggers_skipped() as unchecked:
            problems = self._problems(chunk)
            with_traces = [(r, problems[id(r)]) for r in chunk if r.trace is not None]
            if with_traces:
                self._traces(with_traces)
            if unchecked:
                self._lock_references(problems.values())

    def _lock_references(self, problems: Iterable[Problem]) -> None:
        """Instead of a check per row: the problems and sources the chunk references must
        still be there, and stay until the transaction ends. (Its traces and nodes are new
        or were locked when found.)"""
        for model, keys in (
            (Problem, {p.pk for p in problems}),
            (GradeSource, set(self.source_ids.values())),
        ):
            if missing := keys - lock_keys(model, keys):
                raise RuntimeError(
                    f"{model._meta.verbose_name} {sorted(missing)} deleted during the import"
                )

    # Problems -------------------------------------------------------------------------

    def _problems(self, chunk: list[ImportRecord]) -> dict[int, Problem]:
        """Find or create the problem of every record; returns them by id(record)."""
        keys = {id(r): self._key(r.problem) for r in chunk}
        missing = {k for k in keys.values() if k not in self.problem_by_key}
        if missing:
            self._load_problems(missing)
        new: dict[str, Problem] = {}
        for record in chunk:
            key = keys[id(record)]
            if key not in self.problem_by_key and key not in new:
                new[key] = self._new_problem(record.problem)
        if new:
            Problem.objects.bulk_create(new.values())
            self.report.problems_created += len(new)
            self.problem_by_key.update(new)
        return {id(r): self.problem_by_key[keys[id(r)]] for r in chunk}

    @staticmethod
    def _key(problem: ProblemRecord) -> str:
        if problem.external_id:
            return "id:" + problem.external_id
        return "text:" + text_digest(problem.text)

    def _load_problems(self, keys: set[str]) -> None:
        ids = [k[3:] for k in keys if k.startswith("id:")]
        digests = [k[5:] for k in keys if k.startswith("text:")]
        found = Problem.objects.filter(project=self.project, external_id__in=ids) | (
            Problem.objects.filter(project=self.project, text_digest__in=digests)
        )
        for problem in found.order_by("id"):
            self.problem_by_key.setdefault("id:" + problem.external_id, problem)
            self.problem_by_key.setdefault("text:" + problem.text_digest, problem)

    def _new_problem(self, record: ProblemRecord) -> Problem:
        digest = text_digest(record.text)
        return Problem(
            project=self.project,
            external_id=record.external_id or f"sha256:{digest[:32]}",
            text=record.text,
            text_digest=digest,
            answer=record.answer,
            solution=record.solution,
            source=self.format_name,
            subject=record.subject,
            level=record.level,
            metadata=record.metadata,
        )

    # Traces, nodes, grades ------------------------------------------------------------

    def _traces(self, records: list[tuple[ImportRecord, Problem]]) -> None:
        existing = existing_pairs(
            Trace,
            ("problem", "external_id"),
            {(p.pk, r.trace.external_id) for r, p in records if r.trace},
        )
        fresh: list[tuple[TraceRecord, Problem]] = []
        for record, problem in records:
            assert record.trace is not None
            key = (problem.pk, record.trace.external_id)
            if key in existing:
                self.report.traces_existing += 1
                continue
            existing.add(key)
            fresh.append((record.trace, problem))
        if not fresh:
            return
        correctness = self._correctness(fresh)
        trace_ids = self._insert_traces(fresh, correctness)
        self.report.traces_created += len(trace_ids)
        self._steps(fresh, trace_ids)

    def _insert_traces(
        self, fresh: list[tuple[TraceRecord, Problem]], correctness: list[bool | None]
    ) -> list[int]:
        now = timezone.now()
        return imported_traces_copy(
            [
                (
                    p.pk,
                    Origin.IMPORTED,
                    t.external_id,
                    t.final_answer,
                    c,
                    t.finish_reason,
                    t.time_spent_ms,
                    t.metadata,
                    now,
                )
                for (t, p), c in zip(fresh, correctness, strict=True)
            ]
        )

    def _correctness(self, fresh: list[tuple[TraceRecord, Problem]]) -> list[bool | None]:
        result: list[bool | None] = [t.is_correct for t, _ in fresh]
        if not self.grade_answers:
            return result
        todo = [
            i
            for i, (t, p) in enumerate(fresh)
            if t.is_correct is None and t.final_answer and p.answer
        ]
        verdicts = answers_equivalent_many(
            [(fresh[i][0].final_answer or "", fresh[i][1].answer or "") for i in todo],
            timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S,
        )
        for i, verdict in zip(todo, verdicts, strict=True):
            result[i] = verdict
        return result

    def _steps(self, fresh: list[tuple[TraceRecord, Problem]], trace_ids: list[int]) -> None:
        now = timezone.now()
        nodes: dict[uuid.UUID, tuple[Any, ...]] = {}
        trace_steps: list[tuple[Any, ...]] = []
        grades: list[list[Any]] = []
        for (record, problem), trace_id in zip(fresh, trace_ids, strict=True):
            source_id = self._source_id(record.grader) if record.grader else None
            for step, nid, parent, depth in place_steps(problem.pk, record.steps):
                if nid not in nodes:
                    nodes[nid] = (nid, problem.pk, parent, depth, step.kind, step.text, now)
                trace_steps.append(
                    (trace_id, step.position, nid, step.option, step.on_path, step.extra)
                )
                if step.rating is not None and source_id is not None:
                    grades.append([nid, source_id, trace_id, step.rating, step.flagged, True, now])
        new_nodes = imported_nodes_copy(nodes)
        self.report.nodes_created += len(new_nodes)
        imported_steps_copy(trace_steps)
        self.report.grades_created += imported_grades_copy(grades, new_nodes)

    def _source_id(self, name: str) -> int:
        if name not in self.source_ids:
            self.source_ids[name] = dataset_source(name=name).pk
        return self.source_ids[name]
