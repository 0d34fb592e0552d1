"""Proposal-critique and policy-critic jobs: long thoughts the model steers itself.

A job is sharded by problem, as tree jobs are: each problem's loop is independent, and a shard
runs its problems' loops batched turn by turn, one generator call per turn for every loop whose
turn it is (the policy's model, or the critic's on a critic turn). The final answers of a turn
are graded against the ground truth in one batch. After every turn each prompted loop's
transcript is saved, and the cancel flag is read; a shard run again (its worker died) resumes
every loop from its transcript, and a loop whose long thought is written is not run again.
``job.result["chunks"]`` records, per shard, each turn's role, prompts and running loops.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings

from algorithms import policy_critic, proposal_critique
from algorithms.answers import answers_equivalent_many, extract_answer
from algorithms.sampling import SamplingParams
from algorithms.steering import (
    GradeAnswers,
    Limits,
    LoopState,
    Prompt,
    Response,
    Role,
    SteeredResult,
    Turn,
)
from algorithms.tree_search import ProblemSpec
from annotation.grading.models import GradeSource
from annotation.grading.services import judge_source
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import (
    ModelSnapshot,
    PolicyCriticParams,
    ProposalCritiqueParams,
    job_params,
)
from annotation.jobs.services import check_cancel
from annotation.problems.models import Origin, Problem, Trace
from annotation.trees.models import SteeredLoop
from annotation.trees.steered import (
    SteeredOutcome,
    steered_done,
    steered_results_write,
    steered_transcripts,
    steered_turns_save,
)
from workers.runners.common import ChunkStats, Work, generate, run_work

S = TypeVar("S", bound=LoopState)


@dataclass(frozen=True)
class Loop(Generic[S]):
    """How a job drives its algorithm: rebuild a state from a transcript, the next turn's
    prompts, apply a turn's responses, and the result of a finished loop."""

    resume: Callable[[ProblemSpec, Limits, Sequence[Turn]], S]
    prompts: Callable[[Sequence[S]], list[Prompt]]
    advance: Callable[[Sequence[S], Sequence[Response], GradeAnswers], list[S]]
    finish: Callable[[S], SteeredResult]
    models: dict[Role, tuple[ModelSnapshot, SamplingParams]]
    source: Callable[[], GradeSource | None] = lambda: None


def proposal_critique_work(job: Job) -> Work:
    params = job_params(job, ProposalCritiqueParams)
    prompt_set = params.prompt_set()
    loop: Loop[proposal_critique.ProposalState] = Loop(
        resume=proposal_critique.resume,
        prompts=lambda states: proposal_critique.prompts(states, prompt_set),
        advance=proposal_critique.advance,
        finish=proposal_critique.finish,
        models={"policy": (params.model, params.sampling_params(1))},
    )
    return steered_work(job, params.problem_ids, params.chunk_size, params.limits(), loop)


def policy_critic_work(job: Job) -> Work:
    params = job_params(job, PolicyCriticParams)
    prompt_set = params.prompt_set()
    critic = params.critic_model
    loop: Loop[policy_critic.DialogueState] = Loop(
        resume=policy_critic.resume,
        prompts=lambda states: policy_critic.prompts(states, prompt_set),
        advance=lambda states, responses, grade: policy_critic.advance(
            states, responses, grade, extract_answer
        ),
        finish=policy_critic.finish,
        models={
            "policy": (params.model, params.sampling_params(1)),
            "critic": (critic, params.critic_sampling_params()),
        },
        source=lambda: judge_source(job=job, label=f"critic {critic.label}"),
    )
    return steered_work(job, params.problem_ids, params.chunk_size, params.limits(), loop)


def run_steered(job: Job) -> dict[str, Any]:
    """The whole job in this process (tests; a job without shards)."""
    work = {"proposal_critique": proposal_critique_work, "policy_critic": policy_critic_work}
    return run_work(job, work[job.kind](job))


def steered_work(
    job: Job, items: Sequence[int], chunk_size: int, limits: Limits, loop: Loop[S]
) -> Work:
    def process(chunk: list[int]) -> ChunkStats | None:
        done = steered_done(job, chunk)
        by_id = in_project(job, Problem, [pid for pid in chunk if pid not in done]).in_bulk()
        problems = [by_id[pid] for pid in chunk if pid in by_id]
        if not problems:
            return None
        transcripts = steered_transcripts(job, [p.pk for p in problems])
        states = [
            loop.resume(ProblemSpec(key=str(p.pk), text=p.text), limits, transcripts.get(p.pk, ()))
            for p in problems
        ]
        grade = answer_grader(problems)
        turns: list[dict[str, Any]] = []
        while prompts := loop.prompts(states):
            check_cancel(job)  # between turns: what was said so far is saved
            role = prompts[0].role
            running = sum(1 for state in states if state.stop is None)
            model, sampling = loop.models[role]
            outputs, _seconds = generate(model, [prompt.text for prompt in prompts], sampling)
            responses = [Response(gens[0].text, gens[0].token_count) for gens in outputs]
            states = loop.advance(states, responses, grade)
            steered_turns_save(
                job=job,
                transcripts={
                    problems[p.index].pk: (states[p.index].turns, states[p.index].stop)
                    for p in prompts
                },
            )
            turns.append({"role": role, "prompts": len(prompts), "running": running})
        steered_results_write(
            job=job,
            outcomes=[
                SteeredOutcome(problem, loop.finish(state))
                for problem, state in zip(problems, states, strict=True)
            ],
            source=loop.source(),
        )
        return {
            "problems": len(problems),
            "resumed": sum(1 for p in problems if transcripts.get(p.pk)),
            "backend_calls": {"generate": len(turns)},
            "turns": turns,
        }

    return Work(
        items=items,
        chunk_size=chunk_size,
        process=process,
        result=lambda chunks: steered_result(job, chunks),
    )


def answer_grader(problems: Sequence[Problem]) -> GradeAnswers:
    """Grade a turn's (answer, problem) pairs against the ground truth in one batch; None for
    a problem without one."""
    truths = {str(p.pk): p.answer for p in problems}

    def grade(pairs: Sequence[tuple[str, ProblemSpec]]) -> list[bool | None]:
        wanted = [truths.get(spec.key) for _, spec in pairs]
        todo = [(answer, truth) for (answer, _), truth in zip(pairs, wanted, strict=True) if truth]
        verdicts = iter(
            answers_equivalent_many(todo, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S)
            if todo
            else []
        )
        return [next(verdicts) if truth else None for truth in wanted]

    return grade


COUNTED = ("steps", "reflections", "backtracks", "wrong_answers", "unreadable")


def steered_result(job: Job, chunks: list[ChunkStats]) -> dict[str, Any]:
    """Counts from the database (a resumed job reports all of its loops), the actions summed
    over the loops, and per shard the turns it ran (a shard redone after a crash once)."""
    loops = list(SteeredLoop.objects.filter(job=job).values_list("stop", "counts"))
    stops = Counter(stop or "running" for stop, _ in loops)
    traces = Trace.objects.filter(job=job)
    return {
        "problems": len(loops),
        "solved": stops["solved"],
        "stops": dict(sorted(stops.items())),
        "long_thoughts": traces.filter(origin=Origin.LONG_THOUGHT).count(),
        "shortcuts": traces.filter(origin=Origin.TREE).count(),
        "actions": {key: sum(int(c.get(key, 0)) for _, c in loops) for key in COUNTED},
        "chunks": chunks,
    }
