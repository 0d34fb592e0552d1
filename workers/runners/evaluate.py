"""Evaluation job: k samples per held-out problem from each model, answer-graded, with the
answers of each (model, problem) grouped by mathematical equivalence for majority voting, and
the reflections and backtracks each sample's text makes counted (the before/after page of a
GRPO policy reads them).

Samples are traces of origin `evaluation`, keyed `job{job}:m{model}:p{problem}:{i}` and
written through the runners' trace writer (common.write_traces), so a chunk run twice writes
nothing twice. The job's result is the results table, computed from the database.

Not sharded: the job goes model by model, so each model is loaded once (shards of problems
would each load every model in turn); a worker that dies leaves its job to be taken again,
which samples only what is missing.
"""

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from algorithms.answers import answers_equivalent_many, extract_answer
from algorithms.prompts import render_prompt
from algorithms.results import answer_groups
from algorithms.sample_behaviour import behaviour_of
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import job_params
from annotation.jobs.services import job_progress_report
from annotation.problems.models import Origin, Problem
from annotation.training.params import EvaluationParams
from annotation.training.selectors import evaluation_result
from workers.runners.common import (
    NewTrace,
    chunked,
    existing_external_ids,
    generate,
    new_traces,
    write_traces,
)


def equivalent_many(pairs: Sequence[tuple[str, str]]) -> list[bool]:
    return answers_equivalent_many(pairs, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S)


def with_answer_groups(traces: list[NewTrace]) -> list[NewTrace]:
    """Each trace's answer group among the samples of its (model, problem), and the
    reflections and backtracks of its text, in metadata."""
    groups = answer_groups([extract_answer(t.text) for t in traces], equivalent_many)
    for trace, group in zip(traces, groups, strict=True):
        behaviour = behaviour_of(trace.text)
        trace.metadata["answer_group"] = group
        trace.metadata["reflections"] = behaviour.reflections
        trace.metadata["backtracks"] = behaviour.backtracks
    return traces


def run_evaluate(job: Job) -> dict[str, Any]:
    params = job_params(job, EvaluationParams)
    sampling = params.sampling_params(params.k)
    problem_ids = list(params.problem_ids)
    job_progress_report(job, 0, len(problem_ids) * len(params.models))
    done = 0
    for model in params.models:
        label = {"model": model.label, "model_config": model.id, "prompt": params.prompt.label}
        for chunk in chunked(problem_ids, params.chunk_size):
            keys = {pid: f"job{job.pk}:m{model.id}:p{pid}" for pid in chunk}
            written = existing_external_ids(job, [f"{key}:0" for key in keys.values()])
            missing = [pid for pid in chunk if f"{keys[pid]}:0" not in written]
            problems = in_project(job, Problem, missing).in_bulk()
            todo = [pid for pid in missing if pid in problems]
            if todo:
                prompts = [
                    render_prompt(params.prompt.text, {"problem": problems[pid].text})
                    for pid in todo
                ]
                outputs, seconds = generate(model, prompts, sampling)
                chunk_tokens = sum(g.token_count for gens in outputs for g in gens)
                traces = [
                    trace
                    for pid, generations in zip(todo, outputs, strict=True)
                    for trace in with_answer_groups(
                        new_traces(
                            problems[pid],
                            generations,
                            key=keys[pid],
                            origin=Origin.EVALUATION,
                            seconds=seconds,
                            chunk_tokens=chunk_tokens,
                            metadata=label,
                        )
                    )
                ]
                write_traces(job, traces)
            done += len(chunk)
            job_progress_report(job, done)
    return evaluation_result(job)
