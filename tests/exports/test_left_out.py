"""Exports say what they left out and why: the manifest's left_out counts each reason with the
first trace ids, and prm800k leaves out traces nobody rated unless asked to keep them."""

import json

import pytest

from annotation.datasets.export.left_out import REASONS, Skip, Tally
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.datasets.export.prm800k_rows import labeler_id
from annotation.problems.models import Origin
from tests.exports.conftest import make_problem, make_trace


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prm800k_leaves_out_traces_nobody_rated_by_default(sums, tmp_path):
    # given: the three samples alice rated, the long thought nobody graded, and a model sample
    # graded by nobody either
    unrated = make_trace(sums["right"].problem, ["5.", "So \\boxed{5}."], is_correct=True)
    options = ExportOptions(format="prm800k")
    # when
    manifest = export_to_directory(project=sums["project"], options=options, directory=tmp_path)
    # then: only alice's rows, each with a labeler and ratings
    rows = read_jsonl(tmp_path / "prm800k-train.jsonl")
    assert [row["labeler"] for row in rows] == [labeler_id(sums["project"].pk, "user:alice")] * 3
    ratings = [
        [s["completions"][s["chosen_completion"]]["rating"] for s in row["label"]["steps"]]
        for row in rows
    ]
    assert ratings == [
        [1, 1],
        [-1, -1],
        [0, 1],
    ]
    assert manifest["left_out"] == {
        "no_labeler_or_ratings": {
            "count": 2,
            "why": REASONS["no_labeler_or_ratings"],
            "examples": [f"trace {sums['journey'].pk}", f"trace {unrated.pk}"],
        }
    }
    assert manifest["counts"]["traces_skipped"] == 2


def test_prm800k_keeps_unrated_traces_when_asked(sums, tmp_path):
    # given
    options = ExportOptions(format="prm800k", keep_unlabeled=True)
    # when
    manifest = export_to_directory(project=sums["project"], options=options, directory=tmp_path)
    # then
    rows = read_jsonl(tmp_path / "prm800k-train.jsonl")
    alice = labeler_id(sums["project"].pk, "user:alice")
    assert [row["labeler"] for row in rows] == [alice, alice, alice, None]
    assert manifest["left_out"] == {}
    assert manifest["options"]["keep_unlabeled"] is True


def test_sft_shortcut_counts_wrong_traces_and_origins_it_does_not_read(sums, tmp_path):
    # given: sums has two correct samples, one wrong sample and a long thought (not a shortcut)
    options = ExportOptions(format="sft-shortcut")
    # when
    manifest = export_to_directory(project=sums["project"], options=options, directory=tmp_path)
    # then
    assert manifest["splits"]["train"]["rows"] == 2
    assert manifest["left_out"] == {
        "not_correct": {
            "count": 1,
            "why": REASONS["not_correct"],
            "examples": [f"trace {sums['wrong'].pk}"],
        },
        "origin": {"count": 1, "why": REASONS["origin"], "examples": ["1 long_thought"]},
    }


def test_held_out_rows_and_duplicates_are_counted_by_problem(db, tmp_path):
    # given: two problems with the same graded solution twice each; one problem held out
    from tests.exports.conftest import human_source
    from tests.factories import ProjectFactory

    project = ProjectFactory(name="left out")
    alice = human_source("alice")
    for key in ("a", "b"):
        problem = make_problem(project, f"p/{key}", f"Problem {key}?", "1")
        for _ in range(2):
            make_trace(
                problem,
                ["So \\boxed{1}."],
                origin=Origin.HUMAN_SOLUTION,
                ratings=[1],
                source=alice,
                is_correct=True,
                final_answer="1",
            )
    options = ExportOptions(
        format="trl-stepwise",
        grades="annotator",
        annotator="alice",
        held_out=("p/b",),
        dedupe=True,
    )
    # when
    manifest = export_to_directory(project=project, options=options, directory=tmp_path)
    # then
    assert manifest["left_out"] == {
        "held_out": {"count": 1, "why": REASONS["held_out"], "examples": ["problem p/b"]},
        "duplicate": {
            "count": 2,
            "why": REASONS["duplicate"],
            "examples": ["problem p/a", "problem p/b"],
        },
    }
    assert (manifest["splits"]["train"]["rows"], manifest["splits"]["test"]["rows"]) == (1, 1)


def test_a_tally_keeps_ten_examples_and_an_unknown_reason_is_refused():
    # given
    tally = Tally()
    # when
    for i in range(12):
        tally.add("not_fully_graded", f"trace {i}")
    # then
    entry = tally.as_manifest()["not_fully_graded"]
    assert entry["count"] == 12
    assert entry["examples"] == [f"trace {i}" for i in range(10)]
    with pytest.raises(ValueError, match="unknown reason 'because'"):
        Skip("because")


def test_a_trace_graded_by_two_people_is_read_once_and_listed_once(sums, tmp_path):
    # given: bob grades the wrong sample too, so it is exported once per grader
    from annotation.grading.services import StepGrade, person_grades_write
    from annotation.problems.selectors import path_node_ids
    from tests.exports.conftest import human_source

    wrong = sums["wrong"]
    nodes = path_node_ids([wrong.pk])[wrong.pk]
    person_grades_write(
        source=human_source("bob"),
        trace_id=wrong.pk,
        wanted={node: StepGrade(-1, False) for node in nodes},
        with_critique=False,
    )
    options = ExportOptions(format="trl-stepwise")
    # when
    manifest = export_to_directory(project=sums["project"], options=options, directory=tmp_path)
    # then: two rows of the wrong sample, both cut after its first step; four traces read
    assert manifest["counts"]["traces_read"] == 4
    assert manifest["left_out"]["after_error"] == {
        "count": 2,
        "why": REASONS["after_error"],
        "examples": [f"trace {wrong.pk}"],
    }
