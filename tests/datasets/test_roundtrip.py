"""Imports and exports of the dataset formats, on real PRM800K data and hand-made files."""

import io
import json

from annotation.datasets.exporter import export_dataset
from annotation.datasets.importer import import_dataset
from annotation.grading.models import Grade
from annotation.problems.models import Problem, StepNode, Trace, TraceStep
from tests.conftest import PRM800K_DIR
from tests.factories import ProjectFactory


def import_bytes(project, format_name, data: bytes, **options):
    return import_dataset(
        project=project, format_name=format_name, stream=io.BytesIO(data), **options
    )


def export_rows(project, format_name) -> list[dict]:
    out = io.StringIO()
    export_dataset(project=project, format_name=format_name, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_prm800k_rows_round_trip_field_by_field(project):
    # given
    raw = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes()
    originals = [json.loads(line) for line in raw.splitlines()]
    # when
    report = import_bytes(project, "prm800k", raw)
    exported = export_rows(project, "prm800k")
    # then
    assert report.traces_created == 6
    assert len(exported) == 6
    for original, row in zip(originals, exported, strict=True):
        assert row.keys() == original.keys()
        for key in original:
            assert row[key] == original[key], key


def test_prm800k_alternatives_are_siblings_and_the_chosen_one_continues(project):
    raw = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes()
    import_bytes(project, "prm800k", raw.splitlines()[0])
    trace = Trace.objects.get()
    # Line 1, step 2: five completions rated -1 and a human completion that continues.
    at_step_2 = TraceStep.objects.filter(trace=trace, position=1).select_related("node")
    assert [(s.option, s.on_path) for s in at_step_2] == [
        (0, False),
        (1, False),
        (2, False),
        (3, False),
        (4, False),
        (None, True),
    ]
    parents = {s.node.parent_id for s in at_step_2}
    first = TraceStep.objects.get(trace=trace, position=0, on_path=True)
    assert parents == {first.node_id}
    human = at_step_2.get(option=None)
    assert human.node.text == "We have $3p+e=1.24$ and $5p+e=1.82$."
    assert not Grade.objects.filter(node=human.node).exists()  # the human step has no rating
    assert (
        list(
            Grade.objects.filter(trace=trace, node__in=[s.node for s in at_step_2]).values_list(
                "rating", flat=True
            )
        )
        == [-1] * 5
    )
    assert trace.finish_reason == "solution"
    assert trace.time_spent_ms == 293250
    assert trace.final_answer == "29"
    assert trace.is_correct is True


def test_importing_the_same_file_twice_creates_nothing(project):
    raw = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes()
    import_bytes(project, "prm800k", raw)
    counts = [m.objects.count() for m in (Problem, StepNode, Trace, TraceStep, Grade)]
    # when
    report = import_bytes(project, "prm800k", raw)
    # then
    assert report.traces_created == 0
    assert report.traces_existing == 6
    assert [m.objects.count() for m in (Problem, StepNode, Trace, TraceStep, Grade)] == counts


def test_a_file_of_new_records_then_imported_ones_skips_only_those(project):
    # given: the last three rows imported already; then the whole file in chunks of two, so
    # that the first chunk is all new, the second half new, the third all there
    lines = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes().splitlines()
    import_bytes(project, "prm800k", b"\n".join(lines[3:]))
    alone = ProjectFactory(name="all at once")
    import_bytes(alone, "prm800k", b"\n".join(lines))
    # when
    report = import_bytes(project, "prm800k", b"\n".join(lines), chunk_size=2)
    # then: the first three written, the others skipped; the same rows as all at once
    assert (report.traces_created, report.traces_existing) == (3, 3)
    for model, in_project in (
        (Trace, "problem__project"),
        (TraceStep, "trace__problem__project"),
        (Grade, "trace__problem__project"),
    ):
        assert (
            model.objects.filter(**{in_project: project}).count()
            == model.objects.filter(**{in_project: alone}).count()
        )


def test_math_answers_missing_are_taken_from_the_last_boxed_and_exported_exactly(project):
    # given: MATH-500 with the answer fields removed
    originals = [
        json.loads(line)
        for line in (PRM800K_DIR / "math_splits_test.jsonl").read_text().splitlines()
    ]
    stripped = "".join(
        json.dumps({k: v for k, v in row.items() if k != "answer"}) + "\n" for row in originals
    )
    # when
    import_bytes(project, "math", stripped.encode())
    exported = export_rows(project, "math")
    # then
    assert len(exported) == 500
    assert [row["answer"] for row in exported] == [row["answer"] for row in originals]
    assert exported == originals


PROCESSBENCH = [
    {
        "id": "gsm8k-0",
        "generator": "Qwen2-7B-Instruct",
        "problem": "Tom has 3 apples and buys 2 more. How many apples does he have?",
        "steps": ["Tom starts with 3 apples.", "He buys 2 more: 3 + 2 = 6.", "The answer is 6."],
        "final_answer_correct": False,
        "label": 1,
    },
    {
        "id": "gsm8k-1",
        "generator": "Llama-3.1-8B-Instruct",
        "problem": "What is 7 times 6?",
        "steps": ["7 times 6 is 42.", "So the answer is \\boxed{42}."],
        "final_answer_correct": True,
        "label": -1,
    },
]


def test_processbench_array_file_round_trips_with_labels(project):
    import_bytes(project, "processbench", json.dumps(PROCESSBENCH).encode())
    exported = export_rows(project, "processbench")
    assert exported == PROCESSBENCH
    ratings = list(
        Grade.objects.filter(trace__external_id="gsm8k-0")
        .order_by("node__depth")
        .values_list("rating", flat=True)
    )
    assert ratings == [1, -1]  # the step after the error has no grade
    assert Trace.objects.get(external_id="gsm8k-1").final_answer == "42"


def test_processbench_jsonl_is_accepted_too(project):
    data = "".join(json.dumps(row) + "\n" for row in PROCESSBENCH).encode()
    import_bytes(project, "processbench", data)
    assert export_rows(project, "processbench") == PROCESSBENCH


MATH_SHEPHERD = [
    {
        "input": "Janet has 16 eggs and eats 3. How many are left? "
        "Step 1: She starts with 16 eggs. ки\nStep 2: 16 - 3 = 13. ки\n"
        "Step 3: The answer is: 13 ки",
        "label": "Janet has 16 eggs and eats 3. How many are left? "
        "Step 1: She starts with 16 eggs. +\nStep 2: 16 - 3 = 13. +\n"
        "Step 3: The answer is: 13 +",
        "task": "GSM8K",
    },
    {
        "input": "What is $2^5$? Step 1: $2^5 = 2 \\cdot 16 = 30$. ки\n"
        "Step 2: The answer is: 30 ки",
        "label": "What is $2^5$? Step 1: $2^5 = 2 \\cdot 16 = 30$. -\nStep 2: The answer is: 30 -",
        "task": "MATH",
    },
]


def test_math_shepherd_round_trips_with_every_label(project):
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in MATH_SHEPHERD)
    import_bytes(project, "math-shepherd", data.encode())
    assert export_rows(project, "math-shepherd") == MATH_SHEPHERD
    texts = list(
        StepNode.objects.filter(problem__text="What is $2^5$?")
        .order_by("depth")
        .values_list("text", flat=True)
    )
    assert texts == ["$2^5 = 2 \\cdot 16 = 30$.", "The answer is: 30"]


def test_gsm8k_answer_follows_the_hash_mark(project):
    row = {"question": "How many legs do 3 cats have?", "answer": "3 * 4 = 12\n#### 12"}
    import_bytes(project, "gsm8k", json.dumps(row).encode())
    problem = Problem.objects.get()
    assert (problem.answer, problem.solution, problem.source) == ("12", row["answer"], "gsm8k")
    assert export_rows(project, "gsm8k") == [row]


def test_problems_are_shared_across_datasets_by_text(project):
    import_bytes(project, "processbench", json.dumps(PROCESSBENCH[1:]).encode())
    math_row = {
        "problem": "What is 7 times 6?",
        "solution": "$7 \\cdot 6 = \\boxed{42}$",
        "subject": "Prealgebra",
        "level": 1,
        "unique_id": "test/prealgebra/1.json",
    }
    import_bytes(project, "math", json.dumps(math_row).encode())
    assert Problem.objects.count() == 2  # an external id does not match a text-keyed problem


def test_identical_sibling_completions_keep_their_own_ratings(project):
    # given a PRM800K row whose step offers the same text twice, rated differently (a sampler
    # repeats itself; the labeler rated the two copies -1 and 0), the first one chosen
    row = json.loads((PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes().splitlines()[0])
    step = row["label"]["steps"][0]
    first = step["completions"][0]
    step["completions"] = [first, {**first, "rating": 0}, {**first, "rating": -1}]
    step["chosen_completion"] = 0
    # when it is imported and exported
    import_bytes(project, "prm800k", json.dumps(row).encode())
    [exported] = export_rows(project, "prm800k")
    # then each copy keeps its own rating
    assert exported["label"]["steps"][0] == step
    assert exported == row
