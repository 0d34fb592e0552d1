"""Imports with the parsing in a process of its own (annotation/datasets/pipeline.py): the same
outcome as in one process, and no process left behind, whatever ends the import."""

import copy
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from annotation.datasets import pipeline
from annotation.datasets.errors import RecordError
from annotation.datasets.importer import import_dataset
from annotation.grading.models import Grade
from annotation.problems.models import Problem, StepNode, Trace
from tests.conftest import PRM800K_DIR
from tests.factories import ProjectFactory

TAG = "ки"
ROOT = Path(__file__).resolve().parents[2]


def shepherd_line(n: int) -> str:
    """A small Math-Shepherd record: one rated step; ten problems over the whole file."""
    text = f"Problem {n % 10}: what is x? Step 1: x is {n}. {TAG}"
    return json.dumps({"input": text, "label": text.replace(TAG, "+")})


def shepherd_file(records: int, bad: int | None = None) -> io.BytesIO:
    lines = [shepherd_line(n) for n in range(records)]
    if bad is not None:
        lines[bad - 1] = json.dumps({"input": "no tag here", "label": "no tag here"})
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def written(project) -> dict[str, int]:
    return {
        "problems": Problem.objects.filter(project=project).count(),
        "traces": Trace.objects.filter(problem__project=project).count(),
        "nodes": StepNode.objects.filter(problem__project=project).count(),
        "grades": Grade.objects.filter(node__problem__project=project).count(),
    }


@pytest.fixture
def in_a_process(settings):
    """Every import parses in a process of its own, however small its file."""
    settings.STEPWISE_IMPORT_PROCESS_BYTES = 0
    return settings


@pytest.fixture
def children(monkeypatch):
    """The parsing processes started during the test."""
    started: list[subprocess.Popen[bytes]] = []

    class Recorded(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(pipeline.subprocess, "Popen", Recorded)
    return started


def gone(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None and not Path(f"/proc/{process.pid}").exists()


def test_a_bad_line_in_the_middle_of_100000_records_is_named_and_nothing_is_written(
    project, in_a_process, children
):
    # given: 100,000 records, the 50,001st of which has no step tag
    stream = shepherd_file(100_000, bad=50_001)
    # when
    with pytest.raises(RecordError) as caught:
        import_dataset(project=project, format_name="math-shepherd", stream=stream)
    # then: the line is named, nothing is written, and the parsing process is gone
    assert str(caught.value) == "line 50001: field input: has no step tag 'ки'"
    assert written(project) == {"problems": 0, "traces": 0, "nodes": 0, "grades": 0}
    assert len(children) == 1
    assert gone(children[0])


def test_a_pipelined_import_writes_what_one_process_does_and_again_nothing(
    project, in_a_process, children, settings
):
    # given: the same file imported in one process into another project
    other = ProjectFactory(name="in one process")
    settings.STEPWISE_IMPORT_PROCESS_BYTES = 10**12
    alone = import_dataset(
        project=other, format_name="math-shepherd", stream=shepherd_file(5000), chunk_size=700
    )
    settings.STEPWISE_IMPORT_PROCESS_BYTES = 0
    # when: imported through the parsing process, twice
    first = import_dataset(
        project=project, format_name="math-shepherd", stream=shepherd_file(5000), chunk_size=700
    )
    again = import_dataset(
        project=project, format_name="math-shepherd", stream=shepherd_file(5000), chunk_size=700
    )
    # then: the same report and rows as in one process; the second import writes nothing
    assert first.as_dict() == alone.as_dict()
    assert (
        written(project)
        == written(other)
        == {
            "problems": 10,
            "traces": 5000,
            "nodes": 5000,
            "grades": 5000,
        }
    )
    assert again.as_dict() == {
        **alone.as_dict(),
        "problems_created": 0,
        "traces_created": 0,
        "traces_existing": 5000,
        "nodes_created": 0,
        "grades_created": 0,
    }
    assert len(children) == 2
    assert all(gone(child) for child in children)


def test_skipped_records_are_reported_from_the_parsing_process(project, in_a_process):
    lines = [shepherd_line(n) for n in range(30)]
    lines[4] = lines[20] = '{"input": "no tag", "label": "no tag"}'
    report = import_dataset(
        project=project,
        format_name="math-shepherd",
        stream=io.BytesIO("\n".join(lines).encode()),
        skip_invalid=True,
    )
    assert (report.records, report.invalid_records) == (28, 2)
    assert [e["line"] for e in report.errors] == [5, 21]


class Cancelled(Exception):
    pass


def test_an_error_in_the_writer_stops_the_parsing_process(project, in_a_process, children):
    # given: a progress callback that raises, as a cancelled job's does
    def cancel(done: int, total: int) -> None:
        raise Cancelled

    # when
    with pytest.raises(Cancelled):
        import_dataset(
            project=project,
            format_name="math-shepherd",
            stream=shepherd_file(20_000),
            on_progress=cancel,
        )
    # then: rolled back, and the process is gone
    assert written(project) == {"problems": 0, "traces": 0, "nodes": 0, "grades": 0}
    assert len(children) == 1
    assert gone(children[0])


KILLED_PARENT = """
import io, json, os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
django.setup()
from annotation.datasets import pipeline
lines = [json.dumps({"input": f"P: x? Step 1: {n}. ки", "label": f"P: x? Step 1: {n}. +"})
         for n in range(50000)]
options = pipeline.Options("math-shepherd", 100, False, False, True, "jsonl")
with pipeline.parsing_process(io.BytesIO("\\n".join(lines).encode()), options) as child:
    messages = child.messages()
    next(messages)  # its first question: it is running, waiting for the answer
    print(child.process.pid, flush=True)
    time.sleep(600)
"""


def test_a_killed_import_takes_its_parsing_process_with_it():
    # given: a process importing, whose parsing process is running
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert Path(f"/proc/{child}").exists()
    # when: the importing process is killed (no clean-up runs)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    # then: the parsing process dies too
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    state = (
        Path(f"/proc/{child}/stat").read_text().split()[2]
        if Path(f"/proc/{child}").exists()
        else "gone"
    )
    assert state in ("gone", "Z")  # a zombie is dead: only its exit status waits for init


PRM800K_ROW = json.loads((PRM800K_DIR / "prm800k_raw_samples.jsonl").read_text().splitlines()[0])


def relabeled(n: int) -> str:
    """The same solution, rated by the same labeler at another time: another trace over the
    same nodes, its grades from the same source."""
    return json.dumps({**PRM800K_ROW, "timestamp": f"2022-07-{n + 1:02d}T00:00:00"})


@pytest.mark.parametrize("process_bytes", [0, 10**12], ids=["in a process", "in one process"])
@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_the_first_grade_per_node_and_source_is_current_whatever_the_chunks(
    project, settings, process_bytes, chunk_size
):
    # given: three ratings of the same steps, two in one file and one in a later file
    settings.STEPWISE_IMPORT_PROCESS_BYTES = process_bytes
    first = io.BytesIO(f"{relabeled(0)}\n{relabeled(1)}\n".encode())
    later = io.BytesIO(f"{relabeled(2)}\n".encode())
    # when
    for stream in (first, later):
        import_dataset(project=project, format_name="prm800k", stream=stream, chunk_size=chunk_size)
    # then: the first trace's grades are current; the others' on the same nodes are history
    traces = list(Trace.objects.filter(problem__project=project).order_by("id"))
    assert len(traces) == 3
    current = [Grade.objects.filter(trace=trace, is_current=True).count() for trace in traces]
    graded = Grade.objects.filter(trace=traces[0]).count()
    assert graded > 0
    assert current == [graded, 0, 0]
    assert [Grade.objects.filter(trace=t).count() for t in traces] == [graded] * 3


# Random PRM800K-like files: the same outcome through the parsing process as in one process ----

TEXTS = ["Let x be 1.", "So x + 1 = 2.", "Hmm, wait: $x^2$?", "# Answer\n\n2", "# Answer\n\n3"]
COMPLETION = st.fixed_dictionaries(
    {"text": st.sampled_from(TEXTS), "rating": st.sampled_from([-1, 0, 1, None])},
    optional={"flagged": st.sampled_from([True, False, None]), "source": st.just("human")},
)


@st.composite
def prm800k_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A valid row: every step but the last continues the path (a chosen completion or a
    human one); problems, labelers and texts drawn from small sets, so that records share
    problems, nodes and grade sources."""
    steps = []
    count = draw(st.integers(min_value=1, max_value=4))
    for index in range(count):
        completions = draw(st.lists(COMPLETION, min_size=1, max_size=3) | st.none())
        last = index == count - 1  # the only step that may end the path with no choice
        ways = ["human", *(["chosen"] if completions else []), *(["none"] if last else [])]
        way = draw(st.sampled_from(ways))
        steps.append(
            {
                "completions": completions,
                "human_completion": draw(COMPLETION) if way == "human" else None,
                "chosen_completion": (
                    draw(st.integers(0, len(completions) - 1))
                    if way == "chosen" and completions
                    else None
                ),
            }
        )
    rated_bad = any(
        c["rating"] == -1
        for s in steps
        for c in [*(s["completions"] or []), s["human_completion"]]
        if c is not None
    )
    reasons = ["solution", "give_up", *(["found_error"] if rated_bad else [])]
    return {
        "labeler": draw(st.sampled_from(["ann", "bob"])),
        "timestamp": f"2022-07-{draw(st.integers(1, 28)):02d}T10:00:00",
        "generation": draw(st.none() | st.integers(0, 9)),
        "is_quality_control_question": False,
        "is_initial_screening_question": draw(st.booleans()),
        "question": {
            "problem": draw(st.sampled_from(["What is x + 1?", "Solve $x^2 = 4$.", "Why?"])),
            "ground_truth_answer": draw(st.sampled_from(["2", "3", None])),
        },
        "label": {
            "steps": steps,
            "total_time": draw(st.integers(0, 10**6)),
            "finish_reason": draw(st.sampled_from(reasons)),
        },
    }


def first_completion(row: dict[str, Any]) -> dict[str, Any]:
    """The first step's first completion (or its human one; made if it has neither)."""
    step = row["label"]["steps"][0]
    if not step["completions"] and step["human_completion"] is None:
        step["human_completion"] = {"text": "x", "rating": 0}
    return (step["completions"] or [step["human_completion"]])[0]


def nested(levels: int) -> list[Any]:
    return [nested(levels - 1)] if levels else []


def unchanged(row: dict[str, Any]) -> None:
    pass


# What makes a line bad: what it does to the row, then to the row's text.
BAD_LINES = [
    (unchanged, lambda line: line[: len(line) // 2]),  # invalid JSON
    (unchanged, lambda line: line.replace('"total_time": ', '"total_time": NaN, "t": ')),
    (unchanged, lambda line: '{"labeler": "twice", ' + line[1:]),  # a key twice
    (lambda row: first_completion(row).update(text="a\x00b"), str),
    (lambda row: first_completion(row).update(deep=nested(40)), str),
    (lambda row: first_completion(row).update(rating=5), str),
    (lambda row: first_completion(row).update(rating="good"), str),
    (lambda row: first_completion(row).pop("text"), str),
    (lambda row: row["label"].update(finish_reason="bored"), str),
    (lambda row: row["label"]["steps"][0].update(chosen_completion=7), str),
    (lambda row: row["question"].update(problem=" "), str),
    (lambda row: row.pop("labeler"), str),
]


def database_state(project) -> dict[str, Any]:
    """Everything an import wrote for the project, with no primary key in it: nodes named by
    the texts from the root down, problems by their external id, rows in the order written."""
    nodes = {n.id: n for n in StepNode.objects.filter(problem__project=project)}

    def path(node_id: Any) -> tuple[Any, ...]:
        node = nodes[node_id]
        above = path(node.parent_id) if node.parent_id else ()
        return (*above, (node.depth, node.kind, node.text))

    problem_fields = ("external_id", "text", "text_digest", "answer", "solution", "source")
    trace_fields = ("external_id", "origin", "final_answer", "is_correct", "finish_reason")
    traces = Trace.objects.filter(problem__project=project).select_related("problem")
    return {
        "problems": list(
            Problem.objects.filter(project=project).order_by("id").values_list(*problem_fields)
        ),
        "nodes": sorted(path(node_id) for node_id in nodes),
        "traces": [
            (
                trace.problem.external_id,
                *(getattr(trace, f) for f in trace_fields),
                trace.time_spent_ms,
                trace.metadata,
                [
                    (s.position, s.option, s.on_path, s.extra, path(s.node_id))
                    for s in trace.steps.order_by("position", "id")
                ],
                [
                    (path(g.node_id), g.source.name, g.rating, g.flagged, g.is_current)
                    for g in trace.grades.select_related("source").order_by("id")
                ],
            )
            for trace in traces.order_by("id")
        ],
    }


def import_outcome(data: bytes, *, process_bytes: int, **options: Any) -> tuple[Any, ...]:
    project = ProjectFactory()
    with override_settings(STEPWISE_IMPORT_PROCESS_BYTES=process_bytes):
        try:
            report = import_dataset(
                project=project, format_name="prm800k", stream=io.BytesIO(data), **options
            )
            outcome: Any = (report.as_dict(), report.errors)
        except RecordError as error:
            outcome = str(error)
    return outcome, database_state(project)


@hypothesis.settings(
    max_examples=10,  # each starts a parsing process
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(prm800k_rows(), min_size=1, max_size=6),
    bad=st.none() | st.tuples(st.integers(0, 5), st.sampled_from(BAD_LINES)),
    chunk_size=st.sampled_from([1, 2, 3, 100]),
    skip_invalid=st.booleans(),
)
def test_a_prm800k_file_imports_alike_through_the_parsing_process_and_in_one_process(
    db, rows, bad, chunk_size, skip_invalid
):
    # given: a file of valid rows, or with one bad line somewhere
    lines = [json.dumps(row) for row in rows]
    if bad is not None:
        (index, (spoil_row, spoil_line)) = bad
        index %= len(rows)
        row = copy.deepcopy(rows[index])
        spoil_row(row)
        lines[index] = spoil_line(json.dumps(row))
    data = ("\n".join(lines) + "\n").encode()
    options = {"chunk_size": chunk_size, "skip_invalid": skip_invalid}
    # when
    alone = import_outcome(data, process_bytes=10**12, **options)
    in_a_process = import_outcome(data, process_bytes=0, **options)
    # then: the same report or the same error (line, field, message), the same rows
    assert in_a_process == alone
