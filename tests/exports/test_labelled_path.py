"""Step labels that mean what they claim: every step-label format renders the labelled path,
checked with the six real PRM800K rows and against the public TRL conversion of PRM800K."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.grading.models import Grade
from annotation.problems.models import Trace
from tests.conftest import PRM800K_DIR
from tests.exports.conftest import import_rows, make_problem, make_trace
from tests.factories import ProjectFactory
from tests.support.prm800k import trl_prm800k_conversion

RAW = [json.loads(line) for line in (PRM800K_DIR / "prm800k_raw_samples.jsonl").open()]


def export(project, tmp_path: Path, format_name: str, **options) -> tuple[list[dict], dict]:
    """(rows of every split, manifest) of an export into a fresh directory."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    directory = tmp_path / f"{format_name}-{len(list(tmp_path.iterdir()))}"
    manifest = export_to_directory(
        project=project, options=ExportOptions(format=format_name, **options), directory=directory
    )
    rows = []
    for split in manifest["splits"].values():
        text = (directory / split["name"]).read_text()
        rows += [json.loads(line) for line in text.splitlines()]
    return rows, manifest


@pytest.fixture
def prm800k(db):
    project = ProjectFactory(name="prm800k-six")
    import_rows(project, "prm800k", RAW)
    return project


def test_trl_stepwise_with_zero_bad_equals_the_public_trl_conversion_row_for_row(prm800k, tmp_path):
    # given the six real rows, and what TRL's conversion makes of them
    expected = [row for example in RAW for row in trl_prm800k_conversion(example)]
    # when
    exported, manifest = export(
        prm800k, tmp_path, "trl-stepwise", zero_is="bad", keep_gold_items=True
    )
    # then: row for row, every alternative a row of its own
    assert len(expected) == 37
    assert exported == expected
    assert set(manifest["left_out"]) == set()


def test_a_screening_question_is_left_out_by_default_with_its_reason(prm800k, tmp_path):
    exported, manifest = export(prm800k, tmp_path, "trl-stepwise", zero_is="bad")
    assert len(exported) == 36  # line 6 (is_initial_screening_question) makes one row
    assert manifest["left_out"]["gold_item"]["count"] == 1


def test_the_found_error_keeps_its_error_in_every_format(prm800k, tmp_path):
    # given line 2: found_error, the -1 completion offered after six chosen steps
    found = RAW[1]
    path = [s["completions"][0]["text"] for s in found["label"]["steps"][:6]]
    error = found["label"]["steps"][6]["completions"][0]["text"]
    problem = found["question"]["problem"]
    # when / then: processbench labels the error step, shown after the path
    rows, _ = export(prm800k, tmp_path, "processbench", keep_gold_items=True)
    (row,) = [r for r in rows if r["problem"] == problem]
    assert row["steps"] == [*path, error]
    assert row["label"] == 6
    assert row["final_answer_correct"] is None
    # trl-stepwise: a row ends with the error, labelled bad (chosen path only: the path row)
    for only in (False, True):
        rows, _ = export(prm800k, tmp_path, "trl-stepwise", chosen_path_only=only)
        assert (
            {"prompt": problem, "completions": [*path, error], "labels": [True] * 6 + [False]}
        ) in rows
    # math-shepherd: the same row, its last mark '-'
    rows, _ = export(prm800k, tmp_path, "math-shepherd", chosen_path_only=True)
    (row,) = [r for r in rows if r["input"].startswith(problem)]
    assert row["label"].endswith("-") and row["label"].count(" -") == 1


def test_processbench_leaves_ungraded_traces_out_never_as_no_error(db, tmp_path):
    # given: a graded trace, an ungraded one, and one graded up to its error (stop at first)
    from tests.exports.conftest import human_source

    project = ProjectFactory(name="graded")
    alice = human_source("alice")
    problem = make_problem(project, "g/1", "What is 1 + 1?", answer="2")
    graded = make_trace(problem, ["1 + 1 = 2.", "\\boxed{2}"], ratings=[1, 1], source=alice)
    make_trace(problem, ["1 + 1 = 3.", "\\boxed{3}"], is_correct=False)
    stopped = make_trace(problem, ["1 + 1 = 3.", "\\boxed{3}"], ratings=[-1, None], source=alice)
    partial = make_trace(problem, ["1 + 1 is 2.", "\\boxed{2}"], ratings=[1, None], source=alice)
    # when
    rows, manifest = export(project, tmp_path, "processbench")
    # then
    assert [(r["id"], r["label"]) for r in rows] == [
        (f"stepwise-{graded.pk}", -1),
        (f"stepwise-{stopped.pk}", 0),
    ]
    assert manifest["left_out"]["not_fully_graded"]["count"] == 2
    assert f"trace {partial.pk}" in manifest["left_out"]["not_fully_graded"]["examples"]


def test_the_demo_processbench_export_holds_no_row_from_an_ungraded_trace(db, tmp_path):
    # given the demo project
    call_command("load_demo", model_dir=tmp_path / "demo-model", stdout=None)
    from annotation.core.models import Project
    from annotation.datasets.management.commands.load_demo import DEMO_PROJECT

    demo = Project.objects.get(name=DEMO_PROJECT)
    # when
    rows, manifest = export(demo, tmp_path / "out", "processbench")
    # then: every row's steps before its label were graded in the trace
    assert manifest["left_out"]["not_fully_graded"]["count"] > 0
    for row in rows:
        trace = (
            Trace.objects.get(pk=int(row["id"].removeprefix("stepwise-")))
            if row["id"].startswith("stepwise-")
            else Trace.objects.get(problem__project=demo, external_id=row["id"])
        )
        path = list(trace.steps.filter(on_path=True).order_by("position"))
        until = row["label"] if row["label"] >= 0 else len(path)
        graded = set(
            Grade.objects.filter(trace=trace, is_current=True).values_list("node_id", flat=True)
        )
        assert all(step.node_id in graded for step in path[:until]), row["id"]


def test_trls_conversion_reads_the_prm800k_row_of_native_work_with_a_found_error(db, tmp_path):
    # given an annotator's grades up to the error they found (stop at the first bad step)
    from tests.exports.conftest import human_source

    project = ProjectFactory(name="native")
    ann = human_source("ann")
    problem = make_problem(project, "n/1", "What is 2 * 3?", answer="6")
    make_trace(
        problem, ["2 * 3 = 6.", "6 + 1 = 8.", "\\boxed{8}"], ratings=[1, -1, None], source=ann
    )
    # when
    (row,), _ = export(project, tmp_path, "prm800k")
    converted = trl_prm800k_conversion(row)
    # then: PRM800K's shape, no username, the error kept
    assert row["labeler"] != "user:ann" and "ann" not in json.dumps(row["labeler"])
    steps = row["label"]["steps"]
    assert [s["completions"][s["chosen_completion"]]["rating"] for s in steps] == [1, -1, None]
    assert all(isinstance(c["flagged"], bool) for s in steps for c in s["completions"])
    assert converted == [
        {
            "prompt": "What is 2 * 3?",
            "completions": ["2 * 3 = 6.", "6 + 1 = 8.", "\\boxed{8}"],
            "labels": [True, False, False],
        }
    ]


def test_the_record_says_who_gave_the_labels_and_when(prm800k):
    # given the six PRM800K rows, and an annotator who grades a native trace and submits
    from annotation.datasets.export.selection import iter_trace_views
    from annotation.grading.labelled_path import labelled_path
    from annotation.workspace.models import ItemKind
    from annotation.workspace.services.claims import assignment_claim_next, assignment_skip
    from annotation.workspace.services.saves import grading_submit
    from tests.factories import MembershipFactory, UserFactory, trace_with_steps

    trace = trace_with_steps(make_problem(prm800k, "w/1", "What is 1 + 1?"), ["1 + 1 = 2."])
    user = MembershipFactory(project=prm800k, user=UserFactory(username="giver")).user
    claim = assignment_claim_next(project=prm800k, user=user, kind=ItemKind.GRADE)
    while claim.trace_id != trace.pk:  # the imported rows come first in the queue
        assignment_skip(assignment=claim, reason="not this one")
        claim = assignment_claim_next(project=prm800k, user=user, kind=ItemKind.GRADE)
    node = str(trace.steps.get().node_id)
    grading_submit(
        assignment=claim,
        version=1,
        draft={"grades": {node: {"rating": 1}}},
        finish_reason="solution",
    )
    claim.refresh_from_db()
    # when
    options = ExportOptions(format="trl-stepwise", keep_gold_items=True)
    records = {
        view.trace.pk: labelled_path(view)
        for chunk in iter_trace_views(prm800k, options)
        for view in chunk
    }
    # then: each step's giver, and when the labeller gave the labels
    mine = records[trace.pk]
    assert [s.label.given_by for s in mine.steps] == ["user:giver"]
    assert (mine.labeller, mine.labelled_at) == ("user:giver", claim.submitted_at)
    imported = [r for pk, r in records.items() if pk != trace.pk]
    assert [r.labelled_at.isoformat() for r in imported] == [row["timestamp"] for row in RAW]
    assert all(
        r.labeller == f"prm800k:{row['labeler']}" for r, row in zip(imported, RAW, strict=True)
    )
