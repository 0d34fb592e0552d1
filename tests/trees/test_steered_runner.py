"""The proposal-critique and policy-critic runners in the test process, the model a real HTTP
endpoint on 127.0.0.1 answering with scripted replies: what a job stores (tree rows, long
thought, shortcut, transcript, the critic's grades), one generator call per turn, and a run
that stops half-way (an endpoint error) resumed from the stored transcripts."""

from typing import Any

import pytest

from annotation.grading.models import Grade, SourceKind
from annotation.jobs.models import Job, JobShard, JobStatus
from annotation.jobs.shards import shards_plan
from annotation.llm.services import model_config_create
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import path, trace_texts
from annotation.trees.models import SteeredLoop, TreeNode
from annotation.trees.steered import policy_critic_job_start, proposal_critique_job_start
from tests.factories import ProblemFactory, ProjectFactory
from tests.support.endpoints import scripted_endpoint
from tests.trees.conftest import SteeringScript, steering_answer
from workers.runners.steered import run_steered
from workers.shards import run_next_shard

pytestmark = pytest.mark.django_db

A, B, C = "Solve 3x = 6.", "Solve 2x = 8.", "Ann has 2 apples and gets 3 more."

PROPOSALS: SteeringScript = {
    (A, "policy", 1, 0): "Let me try x = 3.\nACTION: continue",
    (A, "policy", 2, 0): "3 * 3 = 9, not 6.\nACTION: backtrack to step 0",
    (A, "policy", 3, 0): "What does 3x mean?\nACTION: reflect",
    (A, "policy", 4, 0): "It is x three times.\nACTION: terminate, answer: 3",
    (A, "policy", 5, 0): "So x = 6 / 3 = 2.\nACTION: terminate, answer: 2",
    (B, "policy", 1, 0): "Halve 8.\nACTION: terminate, answer: 4",
}


def verdict(move: str, reason: str) -> str:
    return f"VERDICT: {move}\nREASON: {reason}"


DIALOGUE: SteeringScript = {
    (A, "policy", 1, 0): "Try x = 3.",
    (A, "critic", 1, 0): verdict("reflect", "3 * 3 is 9."),
    (A, "policy", 2, 0): "Divide by 3: x = 2, so $\\boxed{2}$.",
    (A, "critic", 2, 0): "I think so.",
    (A, "critic", 2, 1): verdict("continue", "Right."),
    (B, "policy", 1, 0): "x = 4, $\\boxed{4}$.",
    (B, "critic", 1, 0): verdict("continue", "2 * 4 = 8."),
    (C, "policy", 1, 0): "Let x be the number of apples.",
    (C, "critic", 1, 0): "Looks fine.",
    (C, "critic", 1, 1): "Fine.",
    (C, "policy", 2, 0): "So $\\boxed{6}$.",
    (C, "critic", 2, 0): verdict("continue", "Adds up."),
    (C, "policy", 3, 0): "2 + 3 = 5.",
    (C, "critic", 3, 0): verdict("continue", "Yes."),
}


@pytest.fixture
def loopback(settings: Any) -> None:
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]


def problems(*texts: str) -> list[Problem]:
    project = ProjectFactory()
    answers = {A: "2", B: "4", C: "5"}
    return [ProblemFactory(project=project, text=t, answer=answers[t]) for t in texts]


def endpoint_model(problem: Problem, url: str) -> Any:
    return model_config_create(
        project=problem.project, name="scripted", kind="openai", path_or_endpoint=url
    )


def running(job: Job) -> Job:
    job.status = JobStatus.RUNNING
    job.save(update_fields=["status"])
    return job


def tree_rows(job: Job, problem: Problem) -> list[tuple[Any, ...]]:
    return list(
        TreeNode.objects.filter(job=job, problem=problem)
        .order_by("index")
        .values_list(
            "index", "parent_index", "node__kind", "node__text", "final_answer", "is_correct"
        )
    )


def test_a_proposal_critique_job_stores_each_loop_as_a_tree_and_a_long_thought(loopback):
    # given two problems: one takes every action and a wrong answer first, one is solved at once
    a, b = problems(A, B)
    with scripted_endpoint(respond=steering_answer(PROPOSALS)) as endpoint:
        job = running(
            proposal_critique_job_start(
                project=a.project,
                user=None,
                model=endpoint_model(a, endpoint.url),
                problem_ids=[a.pk, b.pk],
                max_steps=8,
                max_backtracks=2,
            )
        )
        # when
        result = run_steered(job)
    # then: one generator call per turn, for every loop still running
    assert result["chunks"] == [
        {
            "problems": 2,
            "resumed": 0,
            "backend_calls": {"generate": 5},
            "turns": [
                {"role": "policy", "prompts": 2, "running": 2},
                *[{"role": "policy", "prompts": 1, "running": 1}] * 4,
            ],
        }
    ]
    assert len(endpoint.requests) == 6
    assert {k: v for k, v in result.items() if k != "chunks"} == {
        "problems": 2,
        "solved": 2,
        "stops": {"solved": 2},
        "long_thoughts": 2,
        "shortcuts": 2,
        "actions": {
            "steps": 1,
            "reflections": 1,
            "backtracks": 1,
            "wrong_answers": 1,
            "unreadable": 0,
        },
    }
    # the tree, each node of the kind its action gave
    assert tree_rows(job, a) == [
        (0, None, None, None, None, None),
        (1, 0, "step", "Let me try x = 3.", None, None),
        (2, 1, "backtrack", "3 * 3 = 9, not 6.", None, None),
        (3, 0, "reflection", "What does 3x mean?", None, None),
        (4, 3, "conclusion", "It is x three times.", "3", False),
        (5, 3, "conclusion", "So x = 6 / 3 = 2.", "2", True),
    ]
    assert list(
        TreeNode.objects.filter(job=job, problem=a, on_correct_path=True).values_list(
            "index", flat=True
        )
    ) == [0, 3, 5]
    # the long thought: every node in the order written, a reflection after the wrong answer
    thought = Trace.objects.get(job=job, problem=a, origin=Origin.LONG_THOUGHT)
    assert thought.external_id == f"lt{job.pk}:p{a.pk}:proposal_critique"
    assert (thought.final_answer, thought.is_correct) == ("2", True)
    assert [(step.kind, step.text) for step in path(thought.pk)] == [
        ("step", "Let me try x = 3."),
        ("backtrack", "3 * 3 = 9, not 6."),
        ("backtrack", "Going back to the beginning."),  # the way back, in words
        ("reflection", "What does 3x mean?"),
        ("conclusion", "It is x three times."),
        (
            "reflection",
            "Wait, the answer $3$ doesn't look right. Let me go back to where I was after "
            "step 1 and try a different approach.",
        ),
        ("conclusion", "So x = 6 / 3 = 2."),
    ]
    meta = thought.metadata
    assert {k: meta[k] for k in ("kind", "method", "tree_job", "leaf", "stop", "walked")} == {
        "kind": "proposal_critique",
        "method": "proposal_critique",
        "tree_job": job.pk,
        "leaf": 5,
        "stop": "solved",
        "walked": [1, 2, 3, 4, 5],
    }
    assert meta["tree_nodes"] == [1, 2, 0, 3, 4, 4, 5]  # linked node by node
    assert (meta["wrong_leaves"], meta["trials"]) == (1, 2)
    assert meta["version"] == "proposal-critique v1"
    # the thought's steps are the tree's own nodes
    nodes = dict(TreeNode.objects.filter(job=job, problem=a).values_list("index", "node_id"))
    steps = [s.node_id for s in path(thought.pk)]
    assert [steps[i] for i in (0, 1, 3, 4)] == [nodes[1], nodes[2], nodes[3], nodes[4]]
    # the shortcut: the path to the correct answer
    shortcut = Trace.objects.get(job=job, problem=a, origin=Origin.TREE)
    assert trace_texts([shortcut.pk])[shortcut.pk] == "What does 3x mean?\n\nSo x = 6 / 3 = 2."
    assert (shortcut.metadata["kind"], shortcut.metadata["leaf"]) == ("shortcut", 5)
    # the transcript, with the negative signal's cause
    loop = SteeredLoop.objects.get(job=job, problem=a)
    assert [(t["outcome"], t["answer"], t["correct"]) for t in loop.turns] == [
        ("continue", None, None),
        ("backtrack to step 0", None, None),
        ("reflect", None, None),
        ("terminate, answer: 3", "3", False),
        ("terminate, answer: 2", "2", True),
    ]
    assert (loop.stop, loop.counts["wrong_answers"]) == ("solved", 1)
    assert trace_texts([Trace.objects.get(job=job, problem=b, origin=Origin.LONG_THOUGHT).pk])


def test_a_policy_critic_job_grades_the_steps_by_the_critic(loopback):
    # given three dialogues: a reflection, an unreadable verdict read on retry, one unreadable
    # twice, a wrong answer the critic let pass, and the step limit
    a, b, c = problems(A, B, C)
    with scripted_endpoint(respond=steering_answer(DIALOGUE)) as endpoint:
        job = running(
            policy_critic_job_start(
                project=a.project,
                user=None,
                model=endpoint_model(a, endpoint.url),
                problem_ids=[a.pk, b.pk, c.pk],
                max_steps=3,
            )
        )
        # when
        result = run_steered(job)
    # then: every turn is one role's, for every dialogue waiting for that role
    [chunk] = result["chunks"]
    assert [(t["role"], t["prompts"]) for t in chunk["turns"]] == [
        ("policy", 3),
        ("critic", 3),
        ("critic", 1),
        ("policy", 2),
        ("critic", 2),
        ("critic", 1),
        ("policy", 1),
        ("critic", 1),
    ]
    assert chunk["backend_calls"] == {"generate": 8}
    assert result["stops"] == {"max_steps": 1, "solved": 2}
    # the critic's verdicts on the tree nodes, except where the answer check decided (it let
    # the wrong 6 pass: the node keeps the check's verdict), and as the job's judge grades
    assert list(
        TreeNode.objects.filter(job=job, problem=c)
        .order_by("index")
        .values_list(
            "index", "parent_index", "score", "judged_correct", "reason", "is_correct",
            "wrong_source",
        )
    ) == [
        (0, None, None, None, "", None, ""),
        (1, 0, None, None, "", None, ""),
        (2, 1, None, None, "", False, "answer"),
        (3, 1, 1.0, True, "Yes.", None, ""),
    ]  # fmt: skip
    grades = Grade.objects.filter(source__job=job).order_by("node__depth", "score", "node__text")
    assert {g.source.kind for g in grades} == {SourceKind.JUDGE}
    assert [(g.node.text, g.score, g.reason) for g in grades] == [
        ("Try x = 3.", 0.0, "3 * 3 is 9."),
        ("Divide by 3: x = 2, so $\\boxed{2}$.", 1.0, "Right."),
        ("x = 4, $\\boxed{4}$.", 1.0, "2 * 4 = 8."),
        ("2 + 3 = 5.", 1.0, "Yes."),
        ("So $\\boxed{6}$.", 1.0, "Adds up."),
    ]
    thought = Trace.objects.get(job=job, problem=a, origin=Origin.LONG_THOUGHT)
    # given in no trace: the critic's opinions label steps only for an export that asks
    assert {g.trace_id for g in grades} == {None}
    # the long thought: the policy's steps, the critic's reason as the reflection
    assert trace_texts([thought.pk])[thought.pk] == (
        "Try x = 3.\n\n"
        "Wait, this doesn't look right: 3 * 3 is 9.\n\n"
        "Divide by 3: x = 2, so $\\boxed{2}$."
    )
    unsolved = Trace.objects.get(job=job, problem=c, origin=Origin.LONG_THOUGHT)
    assert (unsolved.final_answer, unsolved.is_correct) == (None, False)
    assert unsolved.metadata["counts"] == {
        "steps": 3,
        "continues": 2,
        "reflections": 0,
        "backtracks": 0,
        "unreadable": 1,
        "retries": 1,
        "wrong_answers": 1,
    }
    assert not Trace.objects.filter(job=job, problem=c, origin=Origin.TREE).exists()
    assert [t["outcome"] for t in SteeredLoop.objects.get(job=job, problem=c).turns] == [
        "step 1",
        "unreadable, asked again: there is no VERDICT line",
        "unreadable again, taken as continue: there is no VERDICT line",
        "step 2",
        "continue",
        "step 3",
        "continue",
    ]


def test_a_run_stopped_by_an_error_resumes_from_the_stored_transcripts(loopback):
    # given a first run whose endpoint fails at the critic's retry on problem A
    a, b, c = problems(A, B, C)
    broken = {k: v for k, v in DIALOGUE.items() if k != (A, "critic", 2, 1)}
    with scripted_endpoint(respond=steering_answer(broken)) as endpoint:
        job = running(
            policy_critic_job_start(
                project=a.project,
                user=None,
                model=endpoint_model(a, endpoint.url),
                problem_ids=[a.pk, b.pk, c.pk],
                max_steps=3,
            )
        )
        with pytest.raises(Exception, match="unscripted"):
            run_steered(job)
        stored = {loop.problem_id: len(loop.turns) for loop in SteeredLoop.objects.filter(job=job)}
        first_run = len(endpoint.requests)
    assert stored == {a.pk: 4, b.pk: 2, c.pk: 5}
    assert not Trace.objects.filter(job=job).exists()
    # when the job runs again with a healthy endpoint, twice
    with scripted_endpoint(respond=steering_answer(DIALOGUE)) as endpoint:
        Job.objects.filter(pk=job.pk).update(
            params={
                **job.params,
                "model": {**job.params["model"], "path_or_endpoint": endpoint.url},
            }
        )
        job.refresh_from_db()
        result = run_steered(job)
        again = run_steered(job)
    # then only the missing turns were asked for, and the second run wrote nothing
    assert [(t["role"], t["prompts"]) for t in result["chunks"][0]["turns"]] == [
        ("critic", 1),
        ("policy", 1),
        ("critic", 1),
    ]
    assert (result["chunks"][0]["resumed"], first_run, len(endpoint.requests)) == (3, 12, 3)
    assert again["chunks"] == []
    assert Trace.objects.filter(job=job, origin=Origin.LONG_THOUGHT).count() == 3
    assert trace_texts([Trace.objects.get(job=job, problem=a, origin=Origin.LONG_THOUGHT).pk])


@pytest.mark.django_db(transaction=True)
def test_a_cancel_is_honoured_between_turns_and_keeps_what_was_said(loopback):
    # given a sharded job whose cancel is asked while the model writes the second turn
    a, b = problems(A, B)
    job_row: dict[str, Job] = {}

    def answer(body: dict[str, Any]) -> Any:
        if "Write step 2" in body["messages"][0]["content"]:
            Job.objects.filter(pk=job_row["job"].pk).update(cancel_requested=True)
        return steering_answer(PROPOSALS)(body)

    with scripted_endpoint(respond=answer) as endpoint:
        job = running(
            proposal_critique_job_start(
                project=a.project,
                user=None,
                model=endpoint_model(a, endpoint.url),
                problem_ids=[a.pk, b.pk],
            )
        )
        job_row["job"] = job
        shards_plan(job, [a.pk, b.pk], 2)
        # when a worker takes the shard
        run_next_shard("gpu", worker="test", preferred_model="")
    # then the turn under way is saved, the next one never asked for, and the job cancelled
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert list(JobShard.objects.filter(job=job).values_list("status", flat=True)) == [
        JobStatus.CANCELLED
    ]
    assert len(endpoint.requests) == 3
    assert [
        len(loop.turns) for loop in SteeredLoop.objects.filter(job=job).order_by("problem")
    ] == [
        2,
        1,
    ]
    assert not Trace.objects.filter(job=job).exists()
    assert not TreeNode.objects.filter(job=job).exists()


RUNS_OUT: SteeringScript = {
    (A, "policy", 1, 0): "Let me try x = 3.\nACTION: continue",
    (A, "policy", 2, 0): "3 * 3 = 9, too big.\nACTION: backtrack to step 0",
    (A, "policy", 3, 0): "Maybe x = 1.\nACTION: continue",
    (A, "policy", 4, 0): "So x = 6 / 3 = 2.\nACTION: terminate, answer: 2",
}


def test_a_proposal_critique_attempt_that_runs_out_of_steps_is_told_so_next_time(loopback):
    # given a policy that backtracks, then uses its 3 steps without an answer
    [a] = problems(A)
    prompts: list[str] = []
    answer = steering_answer(RUNS_OUT)

    def respond(body: dict[str, Any]) -> Any:
        prompts.append(body["messages"][0]["content"])
        return answer(body)

    with scripted_endpoint(respond=respond) as endpoint:
        job = running(
            proposal_critique_job_start(
                project=a.project,
                user=None,
                model=endpoint_model(a, endpoint.url),
                problem_ids=[a.pk],
                max_steps=3,
                retries=1,
            )
        )
        # when
        result = run_steered(job)

    # then: the next attempt's prompt carries the negative signal, the ones before do not
    assert result["stops"] == {"solved": 1}
    signal = "FEEDBACK: Your last attempt used its 3 steps without reaching a final answer."
    assert [signal in prompt for prompt in prompts] == [False, False, False, True]
    # the attempt's last node keeps the limit's wrong verdict
    assert list(
        TreeNode.objects.filter(job=job, problem=a)
        .exclude(wrong_source="")
        .values_list("index", "wrong_source")
    ) == [(3, "limit")]
    # and the stored long thought says the backtrack and the way back in words
    thought = Trace.objects.get(job=job, problem=a, origin=Origin.LONG_THOUGHT)
    assert trace_texts([thought.pk])[thought.pk] == (
        "Let me try x = 3.\n\n"
        "3 * 3 = 9, too big.\n\n"
        "Going back to the beginning.\n\n"
        "Maybe x = 1.\n\n"
        "Wait, this is not getting me to an answer. "
        "Let me go back to the beginning and try a different approach.\n\n"
        "So x = 6 / 3 = 2."
    )
    assert thought.metadata["counts"]["attempts_without_answer"] == 1
