"""Proposal-critique and policy-critic jobs run by a real Celery worker, the model a tiny one on
vLLM's CPU build: one generator call per turn for every loop whose turn it is."""

import pytest

from annotation.grading.models import Grade
from annotation.jobs.models import JobShard, JobStatus
from annotation.problems.models import Origin, Trace
from annotation.trees.models import SteeredLoop, TreeNode
from annotation.trees.steered import policy_critic_job_start, proposal_critique_job_start
from tests.factories import ProjectFactory, researcher
from tests.support.data import generator_config, make_problems
from tests.support.models import tiny_model
from tests.support.worker import WorkerProcess, finished

pytestmark = [pytest.mark.worker, pytest.mark.models]


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    tiny_model("lm")
    return shared_worker


def test_a_proposal_critique_job_makes_one_generator_call_per_turn(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given three problems in one shard; the tiny model writes no action line, so every reply
    # continues (or, empty, is unreadable) until the step limit
    project = ProjectFactory()
    problems = make_problems(project, 3)
    # when
    job = proposal_critique_job_start(
        project=project,
        user=researcher(project),
        model=generator_config(project, "vllm"),
        problem_ids=[p.pk for p in problems],
        max_steps=3,
        sampling={"max_tokens": 8},
        chunk_size=3,
        retries=0,  # no second attempt after the step limit
    )
    job = finished(job, worker)
    # then: one batched call per turn, over all three loops
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 3, 3)
    [chunk] = job.result["chunks"]
    assert chunk["turns"] == [{"role": "policy", "prompts": 3, "running": 3}] * 3
    assert chunk["backend_calls"] == {"generate": 3}
    assert job.result["stops"] == {"max_steps": 3}
    assert JobShard.objects.get(job=job).queue == "gpu"
    for problem in problems:
        loop = SteeredLoop.objects.get(job=job, problem=problem)
        assert (len(loop.turns), loop.stop) == (3, "max_steps")
        readable = [t for t in loop.turns if not t["outcome"].startswith("unreadable")]
        nodes = TreeNode.objects.filter(job=job, problem=problem)
        assert nodes.count() == 1 + len(readable)
        thought = Trace.objects.get(job=job, problem=problem, origin=Origin.LONG_THOUGHT)
        assert thought.metadata["walked"] == list(range(1, 1 + len(readable)))
        assert thought.is_correct is False
    assert job.result["long_thoughts"] == 3


def test_a_policy_critic_job_makes_one_generator_call_per_turn(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given two problems; the tiny critic writes no verdict, so each step is asked again once
    project = ProjectFactory()
    problems = make_problems(project, 2)
    model = generator_config(project, "vllm")
    # when
    job = policy_critic_job_start(
        project=project,
        user=researcher(project),
        model=model,
        problem_ids=[p.pk for p in problems],
        max_steps=2,
        sampling={"max_tokens": 8},
        critic_sampling={"max_tokens": 8},
        chunk_size=2,
    )
    job = finished(job, worker)
    # then: each turn is one call, for every running dialogue that waits for that role
    assert job.status == JobStatus.SUCCEEDED
    [chunk] = job.result["chunks"]
    turns = chunk["turns"]
    assert chunk["backend_calls"] == {"generate": len(turns)}
    assert [t["prompts"] for t in turns if t["role"] == "policy"] == [
        t["running"] for t in turns if t["role"] == "policy"
    ]
    # (the tiny model writes a step every time and never a verdict: each step is judged,
    # asked again, and taken as continue)
    assert [(t["role"], t["prompts"]) for t in turns] == [
        ("policy", 2),
        ("critic", 2),
        ("critic", 2),
    ] * 2
    for problem in problems:
        loop = SteeredLoop.objects.get(job=job, problem=problem)
        assert [t["outcome"] for t in loop.turns] == [
            "step 1",
            "unreadable, asked again: there is no VERDICT line",
            "unreadable again, taken as continue: there is no VERDICT line",
            "step 2",
            "unreadable, asked again: there is no VERDICT line",
            "unreadable again, taken as continue: there is no VERDICT line",
        ]
        assert (loop.stop, loop.counts["unreadable"], loop.counts["retries"]) == (
            "max_steps",
            2,
            2,
        )
    # an unreadable verdict is no grade
    assert not Grade.objects.filter(source__job=job).exists()
    assert TreeNode.objects.filter(job=job, score__isnull=False).count() == 0
    assert Trace.objects.filter(job=job, origin=Origin.LONG_THOUGHT).count() == 2
