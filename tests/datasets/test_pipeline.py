"""Imports with the parsing in a process of its own (annotation/datasets/pipeline.py): the same
outcome as in one process, and no process left behind, whatever ends the import."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from annotation.datasets import pipeline
from annotation.datasets.errors import RecordError
from annotation.datasets.importer import import_dataset
from annotation.grading.models import Grade
from annotation.problems.models import Problem, StepNode, Trace
from tests.conftest import PRM800K_DIR

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
    from tests.factories import ProjectFactory

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
