"""Import messages that say what is wrong with the file: a byte-order mark, a JSON array in a
file named .jsonl, a GSM8K answer with two '####', an empty step; each with its line, and
nothing imported."""

from __future__ import annotations

import io
import json

import pytest

from annotation.datasets.errors import RecordError
from annotation.datasets.importer import import_dataset
from annotation.problems.models import Problem, Trace

MATH = {"problem": "What is 1 + 1?", "solution": "It is 2.", "answer": "2"}


def refused(project, format_name: str, data: bytes, filename: str = "") -> str:
    with pytest.raises(RecordError) as caught:
        import_dataset(
            project=project, format_name=format_name, stream=io.BytesIO(data), filename=filename
        )
    assert (Problem.objects.count(), Trace.objects.count()) == (0, 0)
    return str(caught.value)


def test_a_byte_order_mark_is_named(project):
    data = b"\xef\xbb\xbf" + json.dumps(MATH).encode()
    message = refused(project, "math", data)
    assert message.startswith("line 1: ")
    assert "byte-order mark" in message


def test_a_json_array_in_a_file_named_jsonl_is_named(project):
    data = json.dumps([MATH], indent=2).encode()
    message = refused(project, "math", data, filename="problems.jsonl")
    assert "is a JSON array" in message
    assert ".jsonl" in message


def test_a_json_array_named_json_is_read(project):
    data = json.dumps([MATH], indent=2).encode()
    import_dataset(
        project=project, format_name="math", stream=io.BytesIO(data), filename="problems.json"
    )
    assert Problem.objects.count() == 1


def test_a_gsm8k_answer_with_two_final_answers_is_refused(project):
    row = {"question": "What is 1 + 1?", "answer": "One and one. #### 1 #### 2"}
    message = refused(project, "gsm8k", json.dumps(row).encode())
    assert message.startswith("line 1: field answer: has '####' more than once")


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_step_is_refused_with_its_line(project, empty):
    good = {
        "id": "a",
        "problem": "What is 2 + 2?",
        "steps": ["Two and two.", "Four."],
        "label": -1,
        "final_answer_correct": True,
    }
    bad = {
        "id": "b",
        "problem": "What is 3 + 3?",
        "steps": ["Three and three.", empty],
        "label": -1,
        "final_answer_correct": True,
    }
    data = (json.dumps(good) + "\n" + json.dumps(bad) + "\n").encode()
    message = refused(project, "processbench", data)
    assert message.startswith("line 2: field steps[1]: is empty")
