"""From a tree with two correct leaves to the report's SFT sets, through a real Celery worker: a
long-thought job rewrites its drafts on an OpenAI-compatible endpoint (a real HTTP server on
127.0.0.1 that echoes the draft, or, for one problem, keeps only its last paragraph), then the
exports scoped to that job's rewrites and paired with its shortcuts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from algorithms.tree_search import ProblemSpec, Tree, record_wrong_verdicts
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import EmptyExport, export_to_directory
from annotation.datasets.export.selection import Splitter
from annotation.jobs.models import JobStatus
from annotation.llm.services import model_config_create
from annotation.problems.models import Problem, Trace
from annotation.problems.tree import text_digest
from annotation.trees.services import long_thought_job_start, tree_round_record
from tests.factories import ProjectFactory, researcher
from tests.support.endpoints import scripted_endpoint
from tests.support.worker import WorkerProcess, finished
from tests.trees.conftest import rewriter_answer, two_correct_leaves

pytestmark = [pytest.mark.worker]

PROMPT = "Solve carefully: {{ problem }}"


def one_correct_leaf(problem: Problem, *, solved: bool) -> Tree:
    """0 -> 1 "Try x = 5." (judged incorrect); 0 -> 2 "Try x = 4." -> 3 (answer 4)."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    guess = tree.add_child(0, "Try x = 5.")
    guess.judged_correct, guess.reason = False, "2 * 5 is 10."
    tree.add_child(0, "Try x = 4.")
    leaf = tree.add_child(2, "2 * 4 = 8, so the answer is $\\boxed{4}$.")
    leaf.final_answer, leaf.is_correct = "4", solved
    record_wrong_verdicts(tree, wrong_below=None)
    return tree


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def chat(prompt: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ]
    }


def test_rewrites_of_two_correct_paths_export_as_journeys_paired_with_their_shortcuts(
    shared_worker: WorkerProcess, transactional_db: None, settings: Any, tmp_path: Path
) -> None:
    # given a round: one tree with two correct leaves, one whose rewrite will lose its
    # journey, and one with no correct leaf
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    project = ProjectFactory()
    problems = [
        Problem.objects.create(
            project=project,
            external_id=key,
            text=text,
            text_digest=text_digest(text),
            answer=answer,
        )
        for key, text, answer in [
            ("a", "Solve 3x = 6.", "2"),
            ("b", "Solve 2x = 8.", "4"),
            ("c", "Solve 2x = 9.", "4.5"),
        ]
    ]
    a, b, c = problems
    tree_job = tree_round_record(
        project=project,
        user=None,
        trees=[
            (a.pk, two_correct_leaves(a)),
            (b.pk, one_correct_leaf(b, solved=True)),
            (c.pk, one_correct_leaf(c, solved=False)),
        ],
        label="hand",
        params={"prompt": PROMPT},
    )
    with scripted_endpoint(respond=rewriter_answer) as endpoint:
        rewriter = model_config_create(
            project=project,
            name="echo",
            kind="openai",
            path_or_endpoint=endpoint.url,
            served_name="echo",
        )
        # when: the report's K=2 (one wrong trial and the correct one at each node)
        job = long_thought_job_start(
            project=project,
            user=researcher(project),
            tree_job=tree_job,
            k=2,
            seed=5,
            rewriter=rewriter,
            sampling={"max_tokens": 2048},
        )
        job = finished(job, shared_worker)

    # then: one shortcut, draft and rewrite per correct path; one rewrite fails its check
    assert job.status == JobStatus.SUCCEEDED
    assert job.params["rewrite_prompt"]["label"] == "long-thought rewrite@v1"
    assert job.params["sampling"]["max_tokens"] == 2048
    assert (job.params["sampling"]["temperature"], job.params["sampling"]["top_p"]) == (0.7, 0.95)
    assert job.result == {
        "problems": 3,
        "shortcuts": 3,
        "drafts": 3,
        "rewrites": 3,
        "rewrites_failing_fidelity": 1,
        "without_correct_leaf_this_run": 1,
    }
    [unfaithful] = Trace.objects.filter(job=job, metadata__fidelity__passed=False)
    assert unfaithful.problem_id == b.pk
    assert unfaithful.metadata["fidelity"]["wrong_answers_missing"] == []  # B tried no answer
    assert unfaithful.metadata["fidelity"]["reflections_found"] == 0

    prompt_a = "Solve carefully: Solve 3x = 6."
    journey_start = (
        "Try x = 3.\n\nWait, this doesn't look right: 3 * 3 is 9, not 6. Let me go back to the "
        "beginning and try a different approach.\n\nTry x = 2.\n\nSo the answer is "
        "$\\boxed{4}$.\n\nWait, the answer $4$ doesn't look right. Let me go back to where I was "
        "after step 1 and try a different approach.\n\n"
    )
    expected_journeys = [
        chat(prompt_a, journey_start + "3 * 2 = 6, so the answer is $\\boxed{2}$."),
        chat(prompt_a, journey_start + "Check: 6 / 3 = 2, so $\\boxed{2}$."),
    ]

    # when: sft-journey scoped to the job's rewrites
    scope = {"jobs": (job.pk,), "kinds": ("rewrite",)}
    manifest = export_to_directory(
        project=project,
        options=ExportOptions(format="sft-journey", **scope),
        directory=tmp_path / "journey",
    )
    # then: exactly the two rewrites of A's correct paths, none rejecting a correct answer
    assert read(tmp_path / "journey" / "sft-journey-train.jsonl") == expected_journeys
    assert {reason: entry["count"] for reason, entry in manifest["left_out"].items()} == {
        "rewrite_failed_fidelity": 1
    }
    with_unfaithful = export_to_directory(
        project=project,
        options=ExportOptions(format="sft-journey", include_unfaithful=True, **scope),
        directory=tmp_path / "all",
    )
    assert with_unfaithful["splits"]["train"]["rows"] == 3

    # when: the paired export over both splits
    options = ExportOptions(format="sft-paired", test_fraction=0.5, seed=1, **scope)
    paired = export_to_directory(project=project, options=options, directory=tmp_path / "paired")
    # then: the shortcuts of the same paths, for the same problems in the same split
    splitter = Splitter(options)
    split_of_a = splitter.split_of(a)
    shortcuts = read(tmp_path / "paired" / f"sft-shortcut-{split_of_a}.jsonl")
    journeys = read(tmp_path / "paired" / f"sft-journey-{split_of_a}.jsonl")
    assert journeys == expected_journeys
    assert shortcuts == [
        chat(prompt_a, "Try x = 2.\n\n3 * 2 = 6, so the answer is $\\boxed{2}$."),
        chat(prompt_a, "Try x = 2.\n\nCheck: 6 / 3 = 2, so $\\boxed{2}$."),
    ]
    other = "test" if split_of_a == "train" else "train"
    assert read(tmp_path / "paired" / f"sft-shortcut-{other}.jsonl") == []
    assert read(tmp_path / "paired" / f"sft-journey-{other}.jsonl") == []
    assert paired["splits"][split_of_a]["rows"] == paired["paired"]["splits"][split_of_a]["rows"]
    assert paired["paired"]["format"] == "sft-shortcut"
    assert {reason: entry["count"] for reason, entry in paired["left_out"].items()} == {
        "rewrite_failed_fidelity": 1,
        "problem_without_sft-journey": 1,  # B: its shortcut has no journey to pair with
    }

    # an export of the job's drafts from another round has nothing, and says so
    with pytest.raises(EmptyExport, match=r"no trace matches .*tree round"):
        export_to_directory(
            project=project,
            options=ExportOptions(format="sft-journey", tree_round=job.pk, **scope),
            directory=tmp_path / "none",
        )
