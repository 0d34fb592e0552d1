"""Every export format over the same fixtures, with exact rows."""

import io
import json
import re

import pytest

from algorithms.pairs import sample_dpo_pairs
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.journey_formats import hash_seed
from annotation.datasets.export.left_out import REASONS
from annotation.datasets.export.options import ExportOptionError, ExportOptions
from annotation.datasets.export.pipeline import EmptyExport, export_to_directory
from annotation.datasets.export.prm800k_rows import labeler_id, prm800k_timestamp
from annotation.datasets.exporter import export_dataset
from annotation.grading.models import Grade
from annotation.problems.models import TraceStep
from tests.exports.conftest import PROCESSBENCH, human_source, import_rows, make_problem, make_trace

QUESTION = "What is 2 + 3?"


def rows(project, format_name: str, **options) -> list[dict]:
    out = io.StringIO()
    export_dataset(
        project=project,
        format_name=format_name,
        out=out,
        options=ExportOptions(format=format_name, **options),
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_trl_stepwise_labels_stop_at_the_first_bad_step_and_zero_is_good_by_default(sums):
    assert rows(sums["project"], "trl-stepwise") == [
        {
            "prompt": QUESTION,
            "completions": ["2 + 3 = 5.", "The answer is \\boxed{5}."],
            "labels": [True, True],
        },
        {"prompt": QUESTION, "completions": ["2 + 3 = 6."], "labels": [False]},
        {
            "prompt": QUESTION,
            "completions": ["Adding gives 5.", "So the answer is 5."],
            "labels": [True, True],
        },
    ]


def test_zero_counted_bad_and_steps_kept_after_the_error(sums):
    exported = rows(sums["project"], "trl-stepwise", zero_is="bad", after_error="keep")
    assert [row["labels"] for row in exported] == [[True, True], [False, False], [False, True]]


def test_openr_rows(sums):
    assert rows(sums["project"], "openr")[:2] == [
        {
            "question": QUESTION,
            "process": "2 + 3 = 5.\n\n\n\n\nThe answer is \\boxed{5}.\n\n\n\n\n",
            "label": ["+", "+"],
        },
        {"question": QUESTION, "process": "2 + 3 = 6.\n\n\n\n\n", "label": ["-"]},
    ]


def test_qwen_prm_rows(sums):
    assert rows(sums["project"], "qwen-prm")[1] == {
        "messages": [
            {
                "role": "system",
                "content": "Please reason step by step, "
                "and put your final answer within \\boxed{}.",
            },
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "2 + 3 = 6.<extra_0>"},
        ],
        "labels": [0],
    }


def test_math_shepherd_rows_of_native_traces(sums):
    assert rows(sums["project"], "math-shepherd")[1] == {
        "input": "What is 2 + 3? Step 1: 2 + 3 = 6. ки\nStep 2: The answer is \\boxed{6}. ки",
        "label": "What is 2 + 3? Step 1: 2 + 3 = 6. -\nStep 2: The answer is \\boxed{6}. -",
        "task": "",
    }


def test_prm800k_rows_of_natively_graded_traces(sums):
    row = rows(sums["project"], "prm800k")[1]
    timestamp = row.pop("timestamp")
    assert timestamp == prm800k_timestamp(sums["wrong"].created_at)  # UTC, no offset
    assert row == {
        "labeler": labeler_id(sums["project"].pk, "user:alice"),
        "generation": None,
        "is_quality_control_question": False,
        "is_initial_screening_question": False,
        "question": {"problem": QUESTION, "ground_truth_answer": "5"},
        "label": {
            "steps": [
                # a model's steps: each the one completion offered, chosen (no human text)
                {
                    "completions": [{"text": "2 + 3 = 6.", "rating": -1, "flagged": False}],
                    "human_completion": None,
                    "chosen_completion": 0,
                },
                {
                    "completions": [
                        {"text": "The answer is \\boxed{6}.", "rating": -1, "flagged": False}
                    ],
                    "human_completion": None,
                    "chosen_completion": 0,
                },
            ],
            "total_time": None,
            "finish_reason": None,
        },
    }


def test_sft_shortcut_has_correct_paths_only_and_ends_with_the_boxed_answer(sums):
    assert rows(sums["project"], "sft-shortcut") == [
        {
            "messages": [
                {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": "2 + 3 = 5.\n\nThe answer is \\boxed{5}."},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": QUESTION},
                {
                    "role": "assistant",
                    "content": "Adding gives 5.\n\nSo the answer is 5.\n\n"
                    "The final answer is $\\boxed{5}$.",
                },
            ]
        },
    ]


def test_sft_journey_has_the_long_thoughts_with_their_detours(sums):
    assert rows(sums["project"], "sft-journey") == [
        {
            "messages": [
                {"role": "user", "content": QUESTION},
                {
                    "role": "assistant",
                    "content": "Try 2 + 3 = 6.\n\nWait, check again: 2 + 3 = 5.\n\n"
                    "So the answer is 5.\n\nThe final answer is $\\boxed{5}$.",
                },
            ]
        }
    ]


def test_dpo_pairs_distinct_correct_and_incorrect_samples_one_to_one(sums):
    # each response is the sample's raw text, nothing appended
    right = "2 + 3 = 5.\n\nThe answer is \\boxed{5}."
    okay = "Adding gives 5.\n\nSo the answer is 5."
    wrong = "2 + 3 = 6.\n\nThe answer is \\boxed{6}."

    def pair(chosen: str) -> dict:
        return {
            "prompt": [{"role": "user", "content": QUESTION}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": wrong}],
        }

    # two correct samples, one incorrect: one pair, no response used twice
    order = sample_dpo_pairs([right, okay], [wrong], k=5, seed=hash_seed(0, "test/sums/1"))
    assert len(order) == 1
    assert rows(sums["project"], "dpo") == [pair(chosen) for chosen, _ in order]
    assert len(rows(sums["project"], "dpo", pairs_per_problem=1)) == 1


def test_dpo_with_20_samples_gives_5_distinct_seeded_pairs(db, sums):
    project = sums["project"]
    problem = make_problem(project, "test/sums/2", "What is 4 + 4?", answer="8")
    for i in range(10):
        make_trace(problem, [f"Sample {i}: 4 + 4 = 8."], is_correct=True, final_answer="8")
        make_trace(problem, [f"Sample {i}: 4 + 4 = 9."], is_correct=False, final_answer="9")
    first = [r for r in rows(project, "dpo") if r["prompt"][0]["content"] == "What is 4 + 4?"]
    again = [r for r in rows(project, "dpo") if r["prompt"][0]["content"] == "What is 4 + 4?"]
    other = [
        r for r in rows(project, "dpo", seed=1) if r["prompt"][0]["content"] == "What is 4 + 4?"
    ]
    assert len(first) == 5
    assert first == again
    assert first != other
    pairs = {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in first}
    assert len(pairs) == 5
    assert all("= 8" in chosen and "= 9" in rejected for chosen, rejected in pairs)


def test_dpo_export_gives_every_seed_5_pairs_of_distinct_responses(db, sums, tmp_path):
    # given 10 correct and 10 incorrect answered samples, and a problem with only correct ones
    project = sums["project"]
    problem = make_problem(project, "test/sums/3", "What is 5 + 5?", answer="10")
    for i in range(10):
        make_trace(problem, [f"Try {i}: 5 + 5 = 10."], is_correct=True, final_answer="10")
        make_trace(problem, [f"Try {i}: 5 + 5 = 11."], is_correct=False, final_answer="11")
    solved = make_problem(project, "test/sums/4", "What is 1 + 1?", answer="2")
    make_trace(solved, ["1 + 1 = 2."], is_correct=True, final_answer="2")
    for seed in range(20):
        # when
        manifest = export_to_directory(
            project=project, options=ExportOptions(format="dpo", seed=seed), directory=tmp_path
        )
        exported = [
            json.loads(line) for line in (tmp_path / "dpo-train.jsonl").read_text().splitlines()
        ]
        # then
        mine = [r for r in exported if r["prompt"][0]["content"] == "What is 5 + 5?"]
        chosen = {r["chosen"][0]["content"] for r in mine}
        rejected = {r["rejected"][0]["content"] for r in mine}
        assert (len(mine), len(chosen), len(rejected)) == (5, 5, 5)
        assert manifest["left_out"] == {
            "problem_without_incorrect": {
                "count": 1,
                "why": REASONS["problem_without_incorrect"],
                "examples": ["problem test/sums/4"],
            },
            "origin": {"count": 1, "why": REASONS["origin"], "examples": ["1 long_thought"]},
        }
        assert manifest["pairs"] == {"k": 5, "problems_with_fewer": 1}  # sums: 1 pair


NO_ROWS = "the export has no rows: "
EMPTY_PROJECT_REASONS = {
    "math": NO_ROWS + "the project has no problems",
    "gsm8k": NO_ROWS + "the project has no problems",
    "sft-shortcut": NO_ROWS
    + "no trace matches origins imported, human_solution, model_sample, tree",
    "sft-journey": NO_ROWS + "no trace matches origins long_thought, expansion",
    "sft-paired": NO_ROWS + "no trace matches origins long_thought, expansion",
    "dpo": NO_ROWS + "no trace matches origins model_sample",
}


@pytest.mark.parametrize("format_name", sorted(EXPORT_FORMATS))
def test_an_empty_export_of_every_format_fails_naming_why(db, tmp_path, format_name):
    # given a project with nothing in it
    from tests.factories import ProjectFactory

    empty = ProjectFactory(name="empty")
    # when / then
    expected = EMPTY_PROJECT_REASONS.get(format_name, NO_ROWS + "no trace matches origins any")
    with pytest.raises(EmptyExport, match=f"^{re.escape(expected)}$"):
        export_to_directory(
            project=empty, options=ExportOptions(format=format_name), directory=tmp_path
        )
    assert list(tmp_path.iterdir()) == []  # no file, no manifest


@pytest.mark.parametrize(
    ("format_name", "reason"),
    [
        (
            "dpo",
            "1 traces read (origins model_sample), none usable; dpo needs a correct and an "
            "incorrect (or unanswered) sample of the same problem, with raw text; left out: "
            "1 problem_without_correct",
        ),
        (
            "sft-shortcut",
            "1 traces read (origins imported, human_solution, model_sample, tree), none usable; "
            "sft-shortcut needs a correct answer (is_correct true); left out: 1 not_correct",
        ),
        (
            "trl-stepwise",
            "1 traces read (origins any), none usable; trl-stepwise needs a usable grade on "
            "every exported step (see the grades option); left out: 1 not_fully_graded",
        ),
    ],
)
def test_an_export_whose_traces_are_all_skipped_says_why(db, tmp_path, format_name, reason):
    # given one wrong, ungraded sample
    from tests.factories import ProjectFactory

    project = ProjectFactory(name="one-wrong")
    problem = make_problem(project, "w/1", "What is 2 + 2?", answer="4")
    make_trace(problem, ["2 + 2 = 5."], is_correct=False, final_answer="5")
    # when / then
    with pytest.raises(EmptyExport, match=f"^{re.escape(NO_ROWS + reason)}$"):
        export_to_directory(
            project=project,
            options=ExportOptions(format=format_name),
            directory=tmp_path,
        )


def test_processbench_file_as_trl_stepwise(project):
    # given
    import_rows(project, "processbench", PROCESSBENCH)
    # when
    exported = rows(project, "trl-stepwise")
    # then: True before the first error, False at it, nothing after; all True for label -1
    assert exported == [
        {
            "prompt": PROCESSBENCH[0]["problem"],
            "completions": ["Tom starts with 3 apples.", "He buys 2 more: 3 + 2 = 6."],
            "labels": [True, False],
        },
        {
            "prompt": "What is 7 times 6?",
            "completions": ["7 times 6 is 42.", "So the answer is \\boxed{42}."],
            "labels": [True, True],
        },
        {"prompt": "What is 9 minus 4?", "completions": ["9 minus 4 is 6."], "labels": [False]},
    ]


def test_majority_of_annotators_with_minimum_agreement(sums):
    # given: bob and carol grade the nodes of the "right" trace too
    project = sums["project"]
    steps = list(TraceStep.objects.filter(trace=sums["right"]).order_by("position"))
    for name, ratings in (("bob", [1, -1]), ("carol", [1, -1])):
        source = human_source(name)
        for step, rating in zip(steps, ratings, strict=True):
            Grade.objects.create(node=step.node, source=source, trace=None, rating=rating)
    # when
    majority = rows(project, "trl-stepwise", grades="majority", origins=("model_sample",))
    agreed = rows(
        project, "trl-stepwise", grades="majority", min_agreement=0.8, origins=("model_sample",)
    )
    by_bob = rows(project, "trl-stepwise", grades="annotator", annotator="bob")
    # then: alice says +1, +1; bob and carol +1, -1
    assert majority[0]["labels"] == [True, False]
    assert [r["labels"] for r in agreed] == [[False], [True, True]]  # right: 2 of 3 < 0.8
    assert [r["completions"] for r in by_bob] == [["2 + 3 = 5.", "The answer is \\boxed{5}."]]
    assert by_bob[0]["labels"] == [True, False]


def test_duplicate_rows_are_removed_on_request(sums):
    project = sums["project"]
    problem = sums["right"].problem
    source = human_source("dora")
    make_trace(problem, ["2 + 3 = 6."], ratings=[-1], source=source)
    assert len(rows(project, "trl-stepwise")) == 4
    assert len(rows(project, "trl-stepwise", dedupe=True)) == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "csv"}, "format: unknown format 'csv'"),
        ({"format": "dpo", "grades": "annotator"}, "annotator: give the username"),
        ({"format": "dpo", "test_fraction": 1.0}, "test_fraction: 1.0 is not in [0, 1)"),
        ({"format": "dpo", "origins": ("dream",)}, "origins: unknown dream"),
    ],
)
def test_bad_options_name_what_to_change(options, message):
    with pytest.raises(ExportOptionError, match=re.escape(message)):
        ExportOptions(**options)


def test_every_format_is_registered():
    assert sorted(EXPORT_FORMATS) == [
        "dpo",
        "gsm8k",
        "math",
        "math-shepherd",
        "openr",
        "prm800k",
        "processbench",
        "qwen-prm",
        "sft-journey",
        "sft-paired",
        "sft-shortcut",
        "trl-stepwise",
    ]


def test_monte_carlo_scores_export_as_soft_labels(sums, tmp_path):
    # given Monte-Carlo scores (shares of rollouts reaching the answer) on one sample's steps
    from annotation.grading.models import GradeSource, SourceKind

    mc = GradeSource.objects.create(kind=SourceKind.MONTE_CARLO, name="mc")
    steps = list(sums["right"].steps.order_by("position"))
    for step, score in zip(steps, [0.75, 0.25], strict=True):
        Grade.objects.create(node_id=step.node_id, source=mc, trace=sums["right"], score=score)
    # when
    trl = rows(sums["project"], "trl-stepwise", grades="monte_carlo", soft_labels=True)
    shepherd = rows(sums["project"], "math-shepherd", grades="monte_carlo", soft_labels=True)
    export_to_directory(
        project=sums["project"],
        options=ExportOptions(
            format="trl-stepwise", grades="monte_carlo", soft_labels=True, file_format="parquet"
        ),
        directory=tmp_path,
    )
    # then: the scores themselves, on the steps the hard labels keep
    assert trl == [
        {
            "prompt": QUESTION,
            "completions": ["2 + 3 = 5.", "The answer is \\boxed{5}."],
            "labels": [0.75, 0.25],
        }
    ]
    assert shepherd == [
        {
            "input": f"{QUESTION} Step 1: 2 + 3 = 5. ки\nStep 2: The answer is \\boxed{{5}}. ки",
            "label": f"{QUESTION} Step 1: 2 + 3 = 5. +\nStep 2: The answer is \\boxed{{5}}. -",
            "task": "",
            "soft_labels": [0.75, 0.25],
        }
    ]
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "trl-stepwise-train.parquet")
    assert table.column("labels").to_pylist() == [[0.75, 0.25]]
    with pytest.raises(ExportOptionError, match="soft_labels: dpo has no soft labels"):
        ExportOptions(format="dpo", soft_labels=True)


def test_dpo_and_sft_rows_keep_the_prompt_the_samples_were_generated_with(db):
    # given two samples of a sample job whose prompt wraps the problem
    from annotation.llm.models import PromptPurpose
    from annotation.llm.services import (
        model_config_create,
        prompt_template_create,
        sample_job_start,
    )
    from tests.factories import ProjectFactory, trace_with_steps

    project = ProjectFactory(name="prompts")
    problem = make_problem(project, "q/1", "What is 3 + 4?", answer="7")
    template = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve: {{ problem }}"
    )
    job = sample_job_start(
        project=project,
        user=None,
        model=model_config_create(
            project=project, name="gen", kind="vllm", path_or_endpoint="/models/gen"
        ),
        prompt=template.versions.get(),
        problem_ids=[problem.pk],
        preset="dpo",
    )
    for answer in ("7", "8"):
        trace_with_steps(
            problem,
            [f"3 + 4 = {answer}."],
            origin="model_sample",
            job=job,
            final_answer=answer,
            is_correct=answer == "7",
            metadata={"raw_text": f"3 + 4 = {answer}."},
        )
    # when
    dpo = rows(project, "dpo")
    shortcut = rows(project, "sft-shortcut")
    # then
    assert [row["prompt"] for row in dpo] == [
        [{"role": "user", "content": "Solve: What is 3 + 4?"}]
    ]
    assert shortcut[0]["messages"][0] == {"role": "user", "content": "Solve: What is 3 + 4?"}
