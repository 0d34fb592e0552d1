"""The journey formats say only what happened (O1-Journey, issue 28): journeys with a trial and a
verified answer, rewrites by default, one-to-one pairs, DPO responses as the model wrote them."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from algorithms.long_thought import derive_long_thoughts
from algorithms.tree_search import ProblemSpec, Tree, record_wrong_verdicts
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.datasets.exporter import export_dataset
from annotation.jobs.models import JobKind
from annotation.problems.models import Origin, Trace
from annotation.problems.selectors import path, trace_texts
from annotation.trees.models import TreeNode
from annotation.trees.services import DerivedThought, long_thoughts_write, tree_round_record
from tests.exports.conftest import make_problem, make_trace
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def rows(project, format_name: str, **options: Any) -> list[dict]:
    out = io.StringIO()
    export_dataset(
        project=project,
        format_name=format_name,
        out=out,
        options=ExportOptions(format=format_name, **options),
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


def answer_of(row: dict) -> str:
    return row["messages"][1]["content"]


def solved_tree(problem, *, detour: bool = True) -> Tree:
    """0 -> 1 "Try x = 2." -> 3 (answer 2, correct); 0 -> 2 "Try x = 3." (judged wrong, or
    only pruned by rank with a good score when ``detour`` is false)."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    tree.add_child(0, "Try x = 2.").score = 0.9
    other = tree.add_child(0, "Try x = 3.")
    other.score, other.pruned = (0.2, True) if detour else (0.85, True)
    if detour:
        other.judged_correct, other.reason = False, "3 * 3 is 9, not 6."
    right = tree.add_child(1, "3 * 2 = 6, so $\\boxed{2}$.")
    right.score, right.final_answer, right.is_correct = 0.95, "2", True
    record_wrong_verdicts(tree, wrong_below=0.5)
    return tree


def long_thought_job(project, problem, tree: Tree, tree_job=None):
    """A tree round (or ``tree_job``) and a long-thought job's shortcut and draft of it."""
    tree_job = tree_job or tree_round_record(
        project=project, user=None, trees=[(problem.pk, tree)], label="r"
    )
    job = tree_round_record(project=project, user=None, trees=[], label="lt")
    job.kind = JobKind.LONG_THOUGHT
    job.save(update_fields=["kind"])
    [thought] = derive_long_thoughts(tree, k=2, seed=0)
    long_thoughts_write(
        job=job, thoughts=[DerivedThought(problem.pk, tree_job.pk, tree, thought, 0, 2)]
    )
    return tree_job, job


def rewrite_of(draft: Trace, text: str, *, passed: bool = True) -> Trace:
    from annotation.trees.services import Rewrite, rewrites_write

    [rewrite] = rewrites_write(
        job=draft.job,
        rewrites=[Rewrite(draft, text, draft.final_answer, True, {"passed": passed})],
    )
    return rewrite


@pytest.fixture
def project():
    return ProjectFactory(name="journeys")


def test_sft_journey_takes_rewrites_by_default_and_drafts_when_asked(project):
    # given a draft with a trial and its faithful rewrite
    problem = make_problem(project, "j/1", "Solve 3x = 6.", answer="2")
    _, job = long_thought_job(project, problem, solved_tree(problem))
    draft = Trace.objects.get(job=job, metadata__kind="draft")
    rewrite_of(draft, "Try x = 3? Wait, 3 * 3 is 9. Let me go back: x = 2, so $\\boxed{2}$.")

    # when / then: the rewrite only, by default
    assert [answer_of(r) for r in rows(project, "sft-journey")] == [
        "Try x = 3? Wait, 3 * 3 is 9. Let me go back: x = 2, so $\\boxed{2}$."
    ]
    # and the draft too when the kinds ask for drafts
    assert len(rows(project, "sft-journey", kinds=("draft",))) == 1
    assert len(rows(project, "sft-journey", kinds=("draft", "rewrite"))) == 2


def test_a_journey_with_no_trial_is_left_out_by_default(project, tmp_path: Path):
    # given a tree whose only other step was pruned by rank with a good score: no trial
    problem = make_problem(project, "j/2", "Solve 3x = 6.", answer="2")
    _, job = long_thought_job(project, problem, solved_tree(problem, detour=False))
    draft = Trace.objects.get(job=job, metadata__kind="draft")
    assert draft.metadata["wrong_leaves"] == 0

    # when
    manifest = export_to_directory(
        project=project,
        options=ExportOptions(format="sft-journey", kinds=("draft",), include_no_trial=True),
        directory=tmp_path / "kept",
    )
    # then: kept only when asked; left out as "no trial" by default
    assert manifest["counts"]["rows"] == 1
    with pytest.raises(Exception, match="no_trial"):
        export_to_directory(
            project=project,
            options=ExportOptions(format="sft-journey", kinds=("draft",)),
            directory=tmp_path / "default",
        )


def test_a_loop_without_a_verified_answer_is_left_out_by_default(project):
    # given a long thought whose answer could not be graded (no ground truth)
    problem = make_problem(project, "j/3", "Solve 3x = 6.")
    make_trace(
        problem,
        ["Try x = 3.", "Wait, 3 * 3 is 9.", "So $\\boxed{2}$."],
        origin=Origin.LONG_THOUGHT,
        final_answer="2",
        is_correct=None,
    )
    # when / then
    assert rows(project, "sft-journey") == []
    assert len(rows(project, "sft-journey", include_unverified=True)) == 1


def test_sft_paired_pairs_each_journey_with_its_own_shortcut(project, tmp_path: Path):
    # given two long-thought jobs over one tree, each with a draft and a rewrite
    problem = make_problem(project, "j/4", "Solve 3x = 6.", answer="2")
    tree = solved_tree(problem)
    tree_job, first = long_thought_job(project, problem, tree)
    _, second = long_thought_job(project, problem, tree, tree_job=tree_job)
    for job, word in ((first, "first"), (second, "second")):
        draft = Trace.objects.get(job=job, metadata__kind="draft")
        rewrite_of(draft, f"The {word}: x = 3? Wait, no. Let me go back: $\\boxed{{2}}$.")

    # when: drafts and rewrites both
    manifest = export_to_directory(
        project=project,
        options=ExportOptions(format="sft-paired", kinds=("draft", "rewrite")),
        directory=tmp_path,
    )

    # then: every job's shortcut is kept, each once; two of the four journeys have a partner
    shortcut_rows = (tmp_path / "sft-shortcut-train.jsonl").read_text().splitlines()
    journey_rows = (tmp_path / "sft-journey-train.jsonl").read_text().splitlines()
    assert len(shortcut_rows) == len(journey_rows) == 2
    assert all(count["count"] >= 0 for count in manifest["left_out"].values())
    assert manifest["left_out"]["unpaired_row"]["count"] == 2
    shortcuts = Trace.objects.filter(origin=Origin.TREE, metadata__kind="shortcut")
    assert sorted(shortcuts.values_list("job_id", flat=True)) == sorted([first.pk, second.pk])


def test_one_correct_solution_per_problem_in_the_shortcut_stage(project):
    problem = make_problem(project, "j/5", "What is 2 + 3?", answer="5")
    for text in ("2 + 3 = 5.", "Adding: 5."):
        make_trace(problem, [text, "\\boxed{5}"], is_correct=True, final_answer="5")

    assert len(rows(project, "sft-shortcut")) == 2
    assert len(rows(project, "sft-shortcut", one_per_problem=True)) == 1


def test_dpo_holds_the_raw_texts_and_takes_unanswered_samples_as_rejected(project):
    # given a correct sample whose raw text has stray spaces, and an unanswered one
    problem = make_problem(project, "j/6", "What is 2 + 3?", answer="5")
    raw = "  2 + 3 = 5.\n\n\nThe answer is \\boxed{5}.  \n"
    make_trace(problem, ["2 + 3 = 5.", "The answer is \\boxed{5}."], is_correct=True,
               final_answer="5", raw_text=raw)  # fmt: skip
    make_trace(problem, ["2 + 3 is"], raw_text="2 + 3 is")

    # when
    [pair] = rows(project, "dpo")

    # then: byte for byte what the model wrote, nothing appended
    assert (pair["chosen"][0]["content"], pair["rejected"][0]["content"]) == (raw, "2 + 3 is")
    # and an option leaves unanswered samples out
    assert rows(project, "dpo", exclude_unanswered=True) == []


# Properties over random trees and samples ----------------------------------------------------


@st.composite
def random_tree(draw: st.DrawFn, problem) -> Tree:
    """A small tree with judged, scored, pruned and answered nodes, near-duplicate texts."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    for node_id in range(1, draw(st.integers(2, 12)) + 1):
        parent = draw(st.integers(0, node_id - 1))
        if tree.node(parent).final_answer is not None:
            parent = 0
        text = draw(st.sampled_from(["x = 2", "x=2.", "x = 3", "Try 4", "so $\\boxed{2}$"]))
        node = tree.add_child(parent, f"{text} ({node_id})")
        node.score = draw(st.sampled_from([None, 0.1, 0.45, 0.9, 0.99]))
        node.judged_correct = draw(st.sampled_from([None, True, False]))
        node.pruned = draw(st.booleans())
    for leaf in list(tree.leaves()):
        if leaf.id and draw(st.booleans()):
            leaf.final_answer = draw(st.sampled_from(["2", "3"]))
            leaf.is_correct = leaf.final_answer == "2"
    record_wrong_verdicts(tree, wrong_below=draw(st.sampled_from([None, 0.5])))
    return tree


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_journey_and_dpo_rows_say_only_what_happened(tmp_path_factory, data):
    # given a project with a random tree, its long thoughts, and random samples
    project = ProjectFactory()
    problem = make_problem(project, "p/1", "Solve 3x = 6.", answer="2")
    tree = data.draw(random_tree(problem))
    tree_job = tree_round_record(project=project, user=None, trees=[(problem.pk, tree)], label="r")
    job = tree_round_record(project=project, user=None, trees=[], label="lt")
    thoughts = derive_long_thoughts(tree, k=data.draw(st.integers(1, 3)), seed=0)
    long_thoughts_write(
        job=job,
        thoughts=[DerivedThought(problem.pk, tree_job.pk, tree, t, 0, 2) for t in thoughts],
    )
    raws = []
    for _ in range(data.draw(st.integers(0, 6))):
        answer = data.draw(st.sampled_from([None, "2", "3"]))
        raw = data.draw(st.sampled_from(["x = 2 ", " so 2", "maybe 3\n", "hmm"])) + str(len(raws))
        raws.append(raw)
        make_trace(problem, [raw.strip()], final_answer=answer,
                   is_correct=None if answer is None else answer == "2", raw_text=raw)  # fmt: skip
    seed = data.draw(st.integers(0, 3))

    # when
    journeys = rows(project, "sft-journey", kinds=("draft",), seed=seed)
    dpo = rows(project, "dpo", seed=seed)

    # then: each exported journey is a draft with a trial, each reflection after a node with a
    # stored wrong verdict
    verdicts = dict(
        TreeNode.objects.filter(job=tree_job, problem=problem).values_list("index", "wrong_source")
    )
    drafts = Trace.objects.filter(job=job, metadata__kind="draft")
    by_text = {text: d for d in drafts for text in [trace_texts([d.pk])[d.pk]]}
    for row in journeys:
        # sft-journey appends the boxed answer only when the last step lacks it
        text = answer_of(row).split("\n\nThe final answer is $")[0]
        draft = by_text[text]
        assert draft.metadata["wrong_leaves"] >= 1
        for position, step in enumerate(path(draft.pk)):
            if step.kind == "reflection":
                assert verdicts[draft.metadata["tree_nodes"][position]] != ""
    # every DPO response is a stored sample's raw text
    for pair in dpo:
        assert pair["chosen"][0]["content"] in raws
        assert pair["rejected"][0]["content"] in raws
    # the same seed gives the same rows; no left-out count is negative
    assert rows(project, "dpo", seed=seed) == dpo
    assert rows(project, "sft-journey", kinds=("draft",), seed=seed) == journeys
    for format_name in ("dpo", "sft-paired"):
        directory = tmp_path_factory.mktemp(format_name)
        try:
            manifest = export_to_directory(
                project=project,
                options=ExportOptions(format=format_name, seed=seed, kinds=("draft",)),
                directory=directory,
            )
        except Exception as error:  # an export with no rows says why instead
            assert "no rows" in str(error)
            continue
        assert all(entry["count"] >= 0 for entry in manifest["left_out"].values())
