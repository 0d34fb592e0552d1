import re
from collections.abc import Callable
from typing import Any

import pytest

from algorithms import policy_critic, proposal_critique
from algorithms.answers import extract_answer
from algorithms.steering import Limits, Response
from algorithms.tree_search import ProblemSpec, Tree, record_wrong_verdicts
from annotation.grading.services import judge_source
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.problems.models import Problem
from annotation.trees.steered import SteeredOutcome, steered_results_write
from tests.factories import ProblemFactory, ProjectFactory
from tests.support.endpoints import Answer, chat_completion

DRAFT = re.compile(r"Reasoning:\n(.*)\n\nRewritten reasoning:", re.DOTALL)


def hand_tree(problem: Problem) -> Tree:
    """0 -> 1 -> 3 (answer 2, correct); 0 -> 1 -> 4 (answer 4, wrong); 0 -> 2 (pruned, judged)."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    first = tree.add_child(0, "Try x = 2.")
    first.score = 0.9
    wrong = tree.add_child(0, "Try x = 3.")
    wrong.score, wrong.pruned, wrong.judged_correct = 0.2, True, False
    wrong.reason = "3 * 3 is 9, not 6."
    right = tree.add_child(1, "3 * 2 = 6, so the answer is $\\boxed{2}$.")
    right.score, right.final_answer, right.is_correct = 0.8, "2", True
    guess = tree.add_child(1, "So the answer is $\\boxed{4}$.")
    guess.score, guess.final_answer, guess.is_correct = 0.3, "4", False
    record_wrong_verdicts(tree, wrong_below=0.5)
    return tree


def rewriter_answer(body: dict[str, Any]) -> Answer:
    """Echo the draft; for the problem about 2x, keep only its last paragraph (a rewrite that
    loses its wrong answer and its reflections)."""
    prompt = body["messages"][0]["content"]
    draft = DRAFT.search(prompt)
    assert draft is not None, prompt
    text = draft.group(1)
    if "2x = 8" in prompt:
        text = text.split("\n\n")[-1]
    return Answer(200, chat_completion(text))


def two_correct_leaves(problem: Problem) -> Tree:
    """0 -> 1 "Try x = 2." -> 3 (answer 2, correct) | 4 (answer 4, wrong) | 5 (answer 2,
    correct); 0 -> 2 "Try x = 3." (judged incorrect, pruned)."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    tree.add_child(0, "Try x = 2.").score = 0.9
    wrong = tree.add_child(0, "Try x = 3.")
    wrong.score, wrong.pruned, wrong.judged_correct = 0.2, True, False
    wrong.reason = "3 * 3 is 9, not 6."
    for text, answer, correct in [
        ("3 * 2 = 6, so the answer is $\\boxed{2}$.", "2", True),
        ("So the answer is $\\boxed{4}$.", "4", False),
        ("Check: 6 / 3 = 2, so $\\boxed{2}$.", "2", True),
    ]:
        leaf = tree.add_child(1, text)
        leaf.final_answer, leaf.is_correct = answer, correct
    record_wrong_verdicts(tree, wrong_below=0.5)
    return tree


@pytest.fixture
def problem(db: None) -> Problem:
    return ProblemFactory(
        project=ProjectFactory(), text="Solve 3x = 6.", answer="2", subject="Algebra", level=2
    )


_PROBLEM = re.compile(r"^Problem:\n(.*?)\n\n", re.DOTALL | re.MULTILINE)
_POLICY_STEP = re.compile(r"Write step (\d+)")
_CRITIC_STEP = re.compile(r"Judge step (\d+)\.")

# (problem text, role, step number, attempt) -> reply; attempt 1 is a critic's retry
SteeringScript = dict[tuple[str, str, int, int], str]


def steering_answer(script: SteeringScript) -> Callable[[dict[str, Any]], Answer]:
    """An endpoint's answer to a proposal-critique or policy-critic prompt: the scripted reply
    for the prompt's problem, role (a critic prompt says "Judge step N."), step number and
    attempt; an unscripted prompt is answered 400 (a test that runs into it fails)."""

    def answer(body: dict[str, Any]) -> Answer:
        prompt = body["messages"][0]["content"]
        problem = _PROBLEM.search(prompt)
        critic = _CRITIC_STEP.search(prompt)
        step = critic or _POLICY_STEP.search(prompt)
        assert problem is not None and step is not None, prompt
        key = (
            problem.group(1),
            "critic" if critic else "policy",
            int(step.group(1)),
            int("could not be read" in prompt),
        )
        if key not in script:
            return Answer(400, {"error": {"message": f"unscripted {key}"}})
        return Answer(200, chat_completion(script[key]))

    return answer


def drive(
    module: Any, problem: Problem, replies: list[str], *, max_steps: int = 8, **extra: Any
) -> Any:
    """A loop of ``module`` (proposal_critique or policy_critic) on ``problem`` driven by
    ``replies`` in turn, answers graded against the problem's answer by string equality."""
    spec = ProblemSpec(key=str(problem.pk), text=problem.text)
    limits = Limits(max_steps=max_steps, max_backtracks=2, max_tokens=999)
    states = module.start([spec], limits)
    grade = lambda pairs: [answer == problem.answer for answer, _ in pairs]  # noqa: E731
    for reply in replies:
        states = module.advance(states, [Response(reply, 3)], grade, **extra)
    return module.finish(states[0])


def proposal_result(problem: Problem) -> Any:
    """A proposal-critique loop on "Solve 3x = 6.": every action once, then the answer."""
    return drive(
        proposal_critique,
        problem,
        [
            "Try x = 3.\nACTION: continue",
            "3 * 3 = 9, not 6.\nACTION: backtrack to step 0",
            "Wait, maybe divide instead?\nACTION: reflect",
            "So x = 6 / 3 = 2.\nACTION: terminate, answer: 2",
        ],
    )


def dialogue_result(problem: Problem) -> Any:
    """A policy-critic dialogue on "Solve 3x = 6.": a step the critic rejects, the answer."""
    return drive(
        policy_critic,
        problem,
        [
            "Try x = 3.",
            "VERDICT: reflect\nREASON: 3 * 3 is 9.",
            "Divide by 3: x = 2, so $\\boxed{2}$.",
            "VERDICT: continue\nREASON: Right.",
        ],
        final_answer=extract_answer,
    )


def steered_round(problem: Problem, kind: str, result: Any, user: Any = None) -> Job:
    """A finished job of ``kind`` (proposal_critique or policy_critic) with ``result`` stored as
    its loop on ``problem``, the critic's verdicts as the job's judge grades."""
    job = Job.objects.create(
        project=problem.project,
        kind=kind,
        status=JobStatus.SUCCEEDED,
        created_by=user,
        params={"problem_ids": [problem.pk]},
        result={"long_thoughts": 1, "actions": result.counts},
    )
    source = judge_source(job=job, label="critic") if kind == JobKind.POLICY_CRITIC else None
    steered_results_write(job=job, outcomes=[SteeredOutcome(problem, result)], source=source)
    return job
