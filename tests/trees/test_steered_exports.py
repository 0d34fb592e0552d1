"""The long thoughts the model steered itself in the exports: sft-journey scoped to a method's
kind (a loop that found no answer left out), and sft-paired with the loops' shortcuts."""

import json
from pathlib import Path
from typing import Any

import pytest

from algorithms import policy_critic
from algorithms.answers import extract_answer
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import EmptyExport, export_to_directory
from annotation.jobs.models import JobKind
from tests.factories import ProblemFactory
from tests.trees.conftest import drive, proposal_result, steered_round

pytestmark = pytest.mark.django_db


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def chat(prompt: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ]
    }


SOLVED = (  # the backtrack the model chose, written out after its step
    "Try x = 3.\n\n3 * 3 = 9, not 6.\n\nGoing back to the beginning.\n\n"
    "Wait, maybe divide instead?\n\nSo x = 6 / 3 = 2.\n\nThe final answer is $\\boxed{2}$."
)


@pytest.fixture
def jobs(problem):
    """A proposal-critique job that solved ``problem`` and a dialogue that did not solve
    another (its one answer wrong, then out of steps)."""
    other = ProblemFactory(project=problem.project, text="Solve 2x = 8.", answer="4")
    unsolved = drive(
        policy_critic,
        other,
        ["So $\\boxed{5}$.", "VERDICT: continue\nREASON: Fine."],
        max_steps=1,
        final_answer=extract_answer,
    )
    assert unsolved.stop == "max_steps"
    return (
        steered_round(problem, JobKind.PROPOSAL_CRITIQUE, proposal_result(problem)),
        steered_round(other, JobKind.POLICY_CRITIC, unsolved),
    )


def test_sft_journey_scoped_to_a_methods_kind(problem, jobs, tmp_path):
    # given the two jobs' long thoughts
    # when
    both = export_to_directory(
        project=problem.project,
        options=ExportOptions(format="sft-journey", kinds=("proposal_critique", "policy_critic")),
        directory=tmp_path / "both",
    )
    dialogues_only = ExportOptions(format="sft-journey", kinds=("policy_critic",))
    # then: the solved loop's long thought; the unsolved one is known to be wrong
    assert read(tmp_path / "both" / "sft-journey-train.jsonl") == [chat(problem.text, SOLVED)]
    assert {reason: n["count"] for reason, n in both["left_out"].items()} == {"wrong_answer": 1}
    with pytest.raises(EmptyExport, match="the export has no rows"):
        export_to_directory(
            project=problem.project, options=dialogues_only, directory=tmp_path / "none"
        )


def test_sft_paired_pairs_a_loops_long_thought_with_its_shortcut(problem, jobs, tmp_path):
    # given
    proposal, _ = jobs
    # when
    manifest = export_to_directory(
        project=problem.project,
        options=ExportOptions(format="sft-paired", jobs=(proposal.pk,)),
        directory=tmp_path,
    )
    # then
    assert read(tmp_path / "sft-journey-train.jsonl") == [chat(problem.text, SOLVED)]
    assert read(tmp_path / "sft-shortcut-train.jsonl") == [
        chat(
            problem.text,
            "Wait, maybe divide instead?\n\nSo x = 6 / 3 = 2.\n\nThe final answer is $\\boxed{2}$.",
        )
    ]
    assert manifest["paired"]["splits"]["train"]["rows"] == 1


def test_a_loops_job_is_its_own_tree_round(problem, jobs, tmp_path):
    # given
    proposal, _ = jobs
    # when: sft-journey scoped to the round of the loop's tree, like a tree's long thoughts
    export_to_directory(
        project=problem.project,
        options=ExportOptions(format="sft-journey", tree_round=proposal.pk),
        directory=tmp_path,
    )
    # then
    assert read(tmp_path / "sft-journey-train.jsonl") == [chat(problem.text, SOLVED)]
