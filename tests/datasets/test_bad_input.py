"""Malformed files: a one-line error naming the line and field, and nothing written."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.datasets.errors import RecordError
from annotation.datasets.importer import import_dataset
from annotation.grading.models import Grade
from annotation.problems.models import Problem, StepNode, Trace
from tests.conftest import PRM800K_DIR

GOOD_MATH = json.dumps(
    {
        "problem": "1+1?",
        "solution": "$\\boxed{2}$",
        "subject": "Algebra",
        "level": 1,
        "unique_id": "a",
    }
)


def table_counts() -> list[int]:
    return [m.objects.count() for m in (Problem, StepNode, Trace, Grade)]


def attempt(project, format_name: str, data: bytes) -> str:
    before = table_counts()
    with pytest.raises(RecordError) as caught:
        import_dataset(project=project, format_name=format_name, stream=io.BytesIO(data))
    assert table_counts() == before
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_truncated_json_line(project):
    data = (GOOD_MATH + "\n" + GOOD_MATH[:30] + "\n").encode()
    assert attempt(project, "math", data) == (
        "line 2: field (record): invalid JSON: Expecting ':' delimiter at column 31"
    )


def test_wrong_type(project):
    data = (GOOD_MATH + "\n" + json.dumps({"problem": 3, "solution": "x", "answer": "1"})).encode()
    assert (
        attempt(project, "math", data) == "line 2: field problem: expected a string, got an integer"
    )


def test_wrong_type_deep_inside_prm800k(project):
    row = json.loads((PRM800K_DIR / "prm800k_raw_samples.jsonl").read_text().splitlines()[2])
    row["label"]["steps"][4]["completions"][1]["rating"] = "good"
    assert attempt(project, "prm800k", json.dumps(row).encode()) == (
        "line 1: field label.steps[4].completions[1].rating: expected an integer, got a string"
    )


def test_processbench_label_out_of_range(project):
    row = {
        "id": "x",
        "generator": "g",
        "problem": "p",
        "steps": ["a", "b"],
        "final_answer_correct": True,
        "label": 2,
    }
    data = (json.dumps({**row, "id": "ok", "label": 0}) + "\n" + json.dumps(row) + "\n").encode()
    assert attempt(project, "processbench", data) == (
        "line 2: field label: 2 is out of range for 2 steps (use -1 for no error)"
    )


def test_invalid_utf8(project):
    data = GOOD_MATH.encode() + b"\n" + b'{"problem": "caf\xe9", "solution": "x"}\n'
    assert attempt(project, "math", data) == "line 2: field (record): invalid UTF-8 at byte 17"


def test_empty_file(project):
    assert attempt(project, "math", b"") == "line 1: field (file): the file is empty"


def test_ten_megabytes_on_one_line(project):
    data = b'{"problem": "' + b"x" * (10 * 1024 * 1024) + b'", "solution": "y"}'
    assert attempt(project, "math", data) == (
        "line 1: field (record): the line is longer than the limit of 4194304 bytes"
    )


def test_skip_invalid_imports_the_rest_and_reports(project, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        GOOD_MATH
        + '\n{"problem": 1}\n{"problem": "trunc\n'
        + GOOD_MATH.replace('"a"', '"b"')
        + "\n"
    )
    report = tmp_path / "errors.jsonl"
    call_command(
        "import_dataset",
        str(path),
        project=project.name,
        format="math",
        skip_invalid=True,
        error_report=str(report),
    )
    assert sorted(Problem.objects.values_list("external_id", flat=True)) == ["a", "b"]
    assert [json.loads(line) for line in report.read_text().splitlines()] == [
        {"line": 2, "field": "problem", "error": "expected a string, got an integer"},
        {
            "line": 3,
            "field": "(record)",
            "error": "invalid JSON: Unterminated string starting at at column 13",
        },
    ]


def test_command_exits_non_zero_with_the_message(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("[1, 2")
    with pytest.raises(CommandError, match=r"bad\.jsonl: line 1: field"):
        call_command("import_dataset", str(path), project=project.name, format="processbench")
    assert Problem.objects.count() == 0


def processbench_row(row_id: str, problem: str = "p") -> dict:
    return {
        "id": row_id,
        "generator": "g",
        "problem": problem,
        "steps": ["a", "b"],
        "final_answer_correct": True,
        "label": -1,
    }


def test_skip_invalid_in_a_json_array_skips_a_refused_element_and_goes_on(project):
    # given: a JSON array whose middle element holds a NUL character
    rows = [processbench_row("a"), processbench_row("b", "p\x00"), processbench_row("c")]
    data = ("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]").encode()
    # when
    report = import_dataset(
        project=project, format_name="processbench", stream=io.BytesIO(data), skip_invalid=True
    )
    # then
    assert report.errors == [
        {"line": 3, "field": "problem", "error": "contains a NUL character (\\u0000)"}
    ]
    assert sorted(Trace.objects.values_list("external_id", flat=True)) == ["a", "c"]


def test_a_broken_json_array_stops_the_import_even_with_skip_invalid(project):
    data = ("[" + json.dumps(processbench_row("a")) + ', {"id": "b", "problem"').encode()
    with pytest.raises(RecordError) as caught:
        import_dataset(
            project=project, format_name="processbench", stream=io.BytesIO(data), skip_invalid=True
        )
    assert caught.value.field == "(file)"
    assert Trace.objects.count() == 0
