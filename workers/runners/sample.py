"""Sampling job: N answer-graded samples per problem (origin model_sample)."""

from typing import Any

from algorithms.prompts import render_prompt
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import SampleParams, job_params
from annotation.problems.models import Origin, Problem
from workers.runners.common import (
    Work,
    existing_external_ids,
    generate,
    generation_result,
    new_traces,
    run_work,
    write_traces,
)


def run_sample(job: Job) -> dict[str, Any]:
    return run_work(job, sample_work(job))


def sample_work(job: Job) -> Work:
    params = job_params(job, SampleParams)
    label = {"model": params.model.label, "prompt": params.prompt.label}

    def process(chunk: list[int]) -> None:
        keys = {pid: f"job{job.pk}:p{pid}" for pid in chunk}
        done = existing_external_ids(job, [f"{key}:0" for key in keys.values()])
        problems = in_project(
            job, Problem, [pid for pid in chunk if f"{keys[pid]}:0" not in done]
        ).in_bulk()
        todo = [pid for pid in chunk if pid in problems]
        if not todo:
            return
        prompts = [
            render_prompt(params.prompt.text, {"problem": problems[pid].text}) for pid in todo
        ]
        outputs, seconds = generate(params.model, prompts, params.sampling_params(params.n))
        chunk_tokens = sum(g.token_count for gens in outputs for g in gens)
        traces = [
            trace
            for pid, generations in zip(todo, outputs, strict=True)
            for trace in new_traces(
                problems[pid],
                generations,
                key=keys[pid],
                origin=Origin.MODEL_SAMPLE,
                seconds=seconds,
                chunk_tokens=chunk_tokens,
                metadata=label,
            )
        ]
        write_traces(job, traces)

    return Work(
        items=params.problem_ids,
        chunk_size=params.chunk_size,
        process=process,
        result=lambda _: generation_result(job),
    )
