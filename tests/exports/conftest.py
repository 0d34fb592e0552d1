"""A project with imported and natively graded traces of every origin the exports read."""

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from annotation.datasets.importer import import_dataset
from annotation.grading.models import GradeSource
from annotation.grading.services import StepGrade, person_grades_write, person_source
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.services import NewTrace, path_steps, trace_create
from annotation.problems.tree import text_digest
from tests.conftest import PRM800K_DIR
from tests.factories import ProjectFactory

PROCESSBENCH = [
    {
        "id": "pb-0",
        "generator": "Qwen2-7B-Instruct",
        "problem": "Tom has 3 apples and buys 2 more. How many apples does he have?",
        "steps": ["Tom starts with 3 apples.", "He buys 2 more: 3 + 2 = 6.", "The answer is 6."],
        "final_answer_correct": False,
        "label": 1,
    },
    {
        "id": "pb-1",
        "generator": "Llama-3.1-8B-Instruct",
        "problem": "What is 7 times 6?",
        "steps": ["7 times 6 is 42.", "So the answer is \\boxed{42}."],
        "final_answer_correct": True,
        "label": -1,
    },
    {
        "id": "pb-2",
        "generator": "Llama-3.1-8B-Instruct",
        "problem": "What is 9 minus 4?",
        "steps": ["9 minus 4 is 6.", "So the answer is \\boxed{6}."],
        "final_answer_correct": False,
        "label": 0,
    },
]


def import_rows(project, format_name: str, rows: list[dict]) -> None:
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    import_dataset(project=project, format_name=format_name, stream=io.BytesIO(data))


def make_problem(project, external_id: str, text: str, answer: str | None = None) -> Problem:
    return Problem.objects.create(
        project=project,
        external_id=external_id,
        text=text,
        text_digest=text_digest(text),
        answer=answer,
        source="test",
    )


def human_source(username: str) -> GradeSource:
    return person_source(user=get_user_model().objects.create(username=username))


def make_trace(
    problem: Problem,
    texts: list[str],
    *,
    origin: str = Origin.MODEL_SAMPLE,
    ratings: list[int | None] | None = None,
    source: GradeSource | None = None,
    is_correct: bool | None = None,
    final_answer: str | None = None,
    kind: str = "step",
    raw_text: str | None = None,
) -> Trace:
    """A model sample keeps the text the model wrote (``raw_text``; by default its steps
    joined by blank lines), as the generation jobs store it."""
    if raw_text is None and origin == Origin.MODEL_SAMPLE:
        raw_text = "\n\n".join(texts)
    trace = trace_create(
        NewTrace(
            problem_id=problem.pk,
            origin=origin,
            is_correct=is_correct,
            final_answer=final_answer,
            steps=path_steps(texts, kind),
            metadata={"raw_text": raw_text} if raw_text is not None else {},
        )
    )
    if ratings is not None:
        assert source is not None
        nodes = trace.steps.order_by("position").values_list("node_id", flat=True)
        person_grades_write(
            source=source,
            trace_id=trace.pk,
            wanted={
                node: StepGrade(rating, unsure=False)
                for node, rating in zip(nodes, ratings, strict=True)
                if rating is not None
            },
            with_critique=False,
        )
    return trace


@pytest.fixture
def sums(db):
    """One problem with three graded samples (two right, one wrong) and a long thought."""
    project = ProjectFactory(name="sums")
    alice = human_source("alice")
    problem = make_problem(project, "test/sums/1", "What is 2 + 3?", answer="5")
    right = make_trace(
        problem,
        ["2 + 3 = 5.", "The answer is \\boxed{5}."],
        ratings=[1, 1],
        source=alice,
        is_correct=True,
        final_answer="5",
    )
    wrong = make_trace(
        problem,
        ["2 + 3 = 6.", "The answer is \\boxed{6}."],
        ratings=[-1, -1],
        source=alice,
        is_correct=False,
        final_answer="6",
    )
    okay = make_trace(
        problem,
        ["Adding gives 5.", "So the answer is 5."],
        ratings=[0, 1],
        source=alice,
        is_correct=True,
        final_answer="5",
    )
    journey = make_trace(
        problem,
        ["Try 2 + 3 = 6.", "Wait, check again: 2 + 3 = 5.", "So the answer is 5."],
        origin=Origin.LONG_THOUGHT,
        is_correct=True,
        final_answer="5",
    )
    return {"project": project, "right": right, "wrong": wrong, "okay": okay, "journey": journey}


@pytest.fixture
def everything(sums):
    """`sums` plus PRM800K, ProcessBench, Math-Shepherd and MATH imports in the same project."""
    project = sums["project"]
    raw = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_text().splitlines()
    import_rows(project, "prm800k", [json.loads(line) for line in raw])
    import_rows(project, "processbench", PROCESSBENCH)
    import_rows(
        project,
        "math-shepherd",
        [
            {
                "input": "What is $2^5$? Step 1: $2^5 = 32$. ки\nStep 2: The answer is: 32 ки",
                "label": "What is $2^5$? Step 1: $2^5 = 32$. +\nStep 2: The answer is: 32 +",
                "task": "MATH",
            }
        ],
    )
    math_rows = [json.loads(line) for line in (PRM800K_DIR / "math_splits_test.jsonl").open()]
    import_rows(project, "math", math_rows[:3])
    return project


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
