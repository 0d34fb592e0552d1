"""Import rows built from parsed records, ready for the writer's COPY: everything an import
computes that needs no query, so that it can run in a process with no database connection.

Node ids depend on the problem's primary key, which only the writer knows: the builder asks
for each chunk's problems and grade sources it has not met before (`request`), and builds the
chunk's rows from the answer (`rows`). It remembers the answers, one per distinct problem and
source, as the writer did before it. Rows go as compact tuples of encoded rows (COPY binary on
PostgreSQL, core/bulk.py `RowEncoder`): little to unpickle and nothing to format for the
writer, whose Python work is on the import's critical path.
"""

from typing import Any, NamedTuple

from django.conf import settings
from django.utils import timezone

from algorithms.answers import answers_equivalent_many
from annotation.datasets.records import ImportRecord, ProblemRecord
from annotation.grading.services import imported_grade_encoder
from annotation.problems.models import Origin
from annotation.problems.services import (
    imported_node_encoder,
    imported_step_encoder,
    imported_trace_encoder,
)
from annotation.problems.tree import place_steps, place_steps_as_bytes, text_digest


def problem_key(problem: ProblemRecord) -> str:
    """How an import finds a record's problem: by its external id, or else by its text."""
    if problem.external_id:
        return "id:" + problem.external_id
    return "text:" + text_digest(problem.text)


class ProblemWanted(NamedTuple):
    """A problem the builder has no primary key for: the writer finds or creates it."""

    key: str
    line: int  # of the first record with it, should the database refuse it
    record: ProblemRecord
    digest: str


class Request(NamedTuple):
    problems: list[ProblemWanted]
    graders: list[str]  # grade source names
    traces: int  # records with a trace in the chunk


class Reply(NamedTuple):
    problems: list[tuple[int, str | None]]  # (primary key, answer) per wanted problem
    sources: list[int]  # per grader
    # A trace id per trace, taken from the sequence (PostgreSQL); None: the writer's database
    # gives them as it writes, and puts them in the rows (which hold None for now).
    trace_ids: list[int] | None


class TraceRows(NamedTuple):
    """One record's trace, encoded (`RowEncoder`): its row, and blocks of its steps and
    grades; the rows of the nodes it is the first in its chunk to show, by node id."""

    line: int
    problem_id: int
    external_id: str
    trace_id: int | None
    row: Any
    node_keys: list[Any]
    nodes: list[Any]
    steps: Any
    grades: Any
    grade_count: int


class ChunkRows(NamedTuple):
    records: int
    traces: list[TraceRows]
    sources: set[int]  # the grade sources the chunk's grades are from
    read_bytes: int | None  # of the file, up to here (for the progress estimate)


class RowBuilder:
    def __init__(self, *, binary: bool, grade_answers: bool) -> None:
        self.grade_answers = grade_answers
        self.binary = binary
        self.problems: dict[str, tuple[int, str | None]] = {}
        self.sources: dict[str, int] = {}
        self.trace_encoder = imported_trace_encoder(binary=binary)
        self.node_encoder = imported_node_encoder(binary=binary)
        self.step_encoder = imported_step_encoder(binary=binary)
        self.grade_encoder = imported_grade_encoder(binary=binary)

    def request(self, chunk: list[ImportRecord]) -> Request:
        wanted: dict[str, ProblemWanted] = {}
        graders: dict[str, None] = {}
        for record in chunk:
            key = problem_key(record.problem)
            if key not in self.problems and key not in wanted:
                digest = key[5:] if key.startswith("text:") else text_digest(record.problem.text)
                wanted[key] = ProblemWanted(key, record.line, record.problem, digest)
            grader = record.trace.grader if record.trace else None
            if grader and grader not in self.sources:
                graders[grader] = None
        traces = sum(1 for record in chunk if record.trace)
        return Request(list(wanted.values()), list(graders), traces)

    def rows(
        self, chunk: list[ImportRecord], request: Request, reply: Reply, read_bytes: int | None
    ) -> ChunkRows:
        for wanted, problem in zip(request.problems, reply.problems, strict=True):
            self.problems[wanted.key] = problem
        self.sources.update(zip(request.graders, reply.sources, strict=True))
        with_traces = [(r, self.problems[problem_key(r.problem)]) for r in chunk if r.trace]
        correctness = self._correctness(with_traces)
        trace_ids: list[int | None] = (
            [*reply.trace_ids] if reply.trace_ids else [None] * len(with_traces)
        )
        now = timezone.now()
        seen_nodes: set[Any] = set()
        seen_grades: set[tuple[Any, int]] = set()
        sources: set[int] = set()
        traces = [
            self._trace_rows(
                record, problem_id, trace_id, is_correct, now, seen_nodes, seen_grades, sources
            )
            for (record, (problem_id, _)), trace_id, is_correct in zip(
                with_traces, trace_ids, correctness, strict=True
            )
        ]
        return ChunkRows(len(chunk), traces, sources, read_bytes)

    def _correctness(
        self, records: list[tuple[ImportRecord, tuple[int, str | None]]]
    ) -> list[bool | None]:
        """A trace's final answer graded against its problem's stored answer (the first
        record's for a new problem), unless the file says."""
        result: list[bool | None] = [r.trace.is_correct for r, _ in records if r.trace]
        if not self.grade_answers:
            return result
        todo = [
            (i, r.trace.final_answer, answer)
            for i, (r, (_, answer)) in enumerate(records)
            if r.trace and r.trace.is_correct is None and r.trace.final_answer and answer
        ]
        verdicts = answers_equivalent_many(
            [(predicted or "", answer or "") for _, predicted, answer in todo],
            timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S,
        )
        for (i, _, _), verdict in zip(todo, verdicts, strict=True):
            result[i] = verdict
        return result

    def _trace_rows(
        self,
        record: ImportRecord,
        problem_id: int,
        trace_id: int | None,
        is_correct: bool | None,
        now: Any,
        seen_nodes: set[Any],
        seen_grades: set[tuple[Any, int]],
        sources: set[int],
    ) -> TraceRows:
        trace = record.trace
        assert trace is not None
        source_id = self.sources[trace.grader] if trace.grader else None
        if source_id is not None:
            sources.add(source_id)
        encode_node = self.node_encoder.encode
        add_step, add_grade = self.step_encoder.add, self.grade_encoder.add
        node_keys, nodes = [], []
        steps, grades = self.step_encoder.block(), self.grade_encoder.block()
        grade_count = 0
        place = place_steps_as_bytes if self.binary else place_steps
        for step, nid, parent, depth in place(problem_id, trace.steps):
            if nid not in seen_nodes:
                seen_nodes.add(nid)
                node_keys.append(nid)
                nodes.append(
                    encode_node((nid, problem_id, parent, depth, step.kind, step.text, now))
                )
            add_step(steps, (trace_id, step.position, nid, step.option, step.on_path, step.extra))
            if step.rating is not None and source_id is not None:
                # Current if the first in the chunk; the writer checks the database.
                first = (nid, source_id) not in seen_grades
                seen_grades.add((nid, source_id))
                grade = (trace_id, nid, source_id, step.rating, first, now, step.flagged)
                add_grade(grades, grade)
                grade_count += 1
        row = self.trace_encoder.encode(
            (
                trace_id,
                problem_id,
                Origin.IMPORTED,
                trace.external_id,
                trace.final_answer,
                is_correct,
                trace.finish_reason,
                trace.time_spent_ms,
                trace.metadata,
                now,
            )
        )
        return TraceRows(
            record.line,
            problem_id,
            trace.external_id,
            trace_id,
            row,
            node_keys,
            nodes,
            steps,
            grades,
            grade_count,
        )
