"""Tree and long-thought jobs run by a real Celery worker with tiny models: the policy through
vLLM's CPU build, a Math-Shepherd style PRM through transformers."""

import pytest

from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import JobStatus
from annotation.problems.models import Origin, Trace
from annotation.problems.selectors import trace_texts
from annotation.trees.models import TreeNode
from annotation.trees.services import (
    long_thought_job_start,
    tree_job_start,
    tree_params,
    tree_round_record,
)
from tests.factories import ProjectFactory, researcher
from tests.support.data import generator_config, make_problems, scorer_config
from tests.support.models import tiny_model
from tests.support.worker import WorkerProcess, finished
from tests.trees.conftest import hand_tree

pytestmark = [pytest.mark.worker, pytest.mark.models]


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    for kind in ("lm", "math-shepherd"):
        tiny_model(kind)
    return shared_worker


def test_tree_job_makes_one_generator_and_one_scorer_call_per_depth(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given three problems in one chunk
    project = ProjectFactory()
    problems = make_problems(project, 3)
    # when
    job = tree_job_start(
        project=project,
        user=researcher(project),
        params=tree_params(
            model=generator_config(project, "vllm"),
            scorer=scorer_config(project, "math-shepherd"),
            problem_ids=[p.pk for p in problems],
            width=3,
            keep=2,
            max_depth=3,
            sampling={"max_tokens": 12},
            chunk_size=3,
        ),
    )
    job = finished(job, worker)
    # then: per depth one batched call each, over every frontier node of all three problems
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 3, 3)
    [chunk] = job.result["chunks"]
    assert chunk["problems"] == 3
    assert chunk["backend_calls"] == {"generate": 3, "score": 3}
    assert chunk["expand_calls"] == [1, 1, 1]
    assert chunk["score_calls"] == [1, 1, 1]
    # (the tiny model writes no final answer, so K=2 nodes per problem go on at each depth)
    assert chunk["expand_requests"] == [3, 6, 6]
    assert chunk["score_requests"] == [9, 18, 18]
    # every problem has a tree: root + 3 + (up to) 6 + 6 nodes, each step scored by the PRM
    nodes = TreeNode.objects.filter(job=job)
    assert nodes.filter(index=0).count() == 3
    assert job.result["nodes"] == nodes.count() == 3 + sum(chunk["score_requests"])
    for problem in problems:
        per_depth = [
            nodes.filter(problem=problem, depth=d, pruned=False).count() for d in (1, 2, 3)
        ]
        assert all(kept <= 2 for kept in per_depth)
    source = GradeSource.objects.get(job=job)
    assert source.kind == SourceKind.PRM
    scored = nodes.exclude(index=0)
    assert scored.filter(score__isnull=True).count() == 0
    assert (
        Grade.objects.filter(source=source).count() == scored.values("node_id").distinct().count()
    )


def test_long_thought_job_derives_drafts_and_rewrites_them(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given a recorded round: one tree with a correct leaf, one without
    project = ProjectFactory()
    solvable, unsolvable = make_problems(project, 2)
    dead = hand_tree(solvable)
    for node in dead.nodes:
        node.is_correct = False if node.final_answer else None
    tree_job = tree_round_record(
        project=project,
        user=None,
        trees=[(solvable.pk, hand_tree(solvable)), (unsolvable.pk, dead)],
        label="hand",
    )
    # when
    job = long_thought_job_start(
        project=project,
        user=researcher(project),
        tree_job=tree_job,
        k=2,
        seed=0,
        rewriter=generator_config(project, "vllm"),
        sampling={"max_tokens": 16},
    )
    job = finished(job, worker)
    # then: shortcut, draft and rewrite for the solvable problem only; the tiny model's
    # rewrite keeps nothing of the draft and is flagged
    assert job.result == {
        "problems": 2,
        "shortcuts": 1,
        "drafts": 1,
        "rewrites": 1,
        "rewrites_failing_fidelity": 1,
        "without_correct_leaf_this_run": 1,
    }
    draft = Trace.objects.get(job=job, metadata__kind="draft")
    rewrite = Trace.objects.get(job=job, metadata__kind="rewrite")
    assert (draft.problem_id, draft.origin) == (solvable.pk, Origin.LONG_THOUGHT)
    assert rewrite.source_trace_id == draft.pk
    assert rewrite.metadata["walked"] == draft.metadata["walked"] == [2, 1, 4, 3]
    assert trace_texts([draft.pk])[draft.pk].startswith("Try x = 3.\n\nWait, this doesn't")
