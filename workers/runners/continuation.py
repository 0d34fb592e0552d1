"""Continuation job: the project's model goes on from an annotator's chosen or written step.

The prompt is the problem and the annotator's path so far, joined as the solution is (steps
apart by a blank line), and the model writes what follows; its text is split into steps that
are shown after the path, as PRM800K's model steps were (annotation/workspace/services/
paths.py, `continuation_attach`), if the path is still the one the job was started from.
"""

from typing import Any

from algorithms.steps import join_steps, split_steps
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import ContinueParams, job_params
from annotation.jobs.services import job_progress_report
from annotation.problems.models import Trace
from annotation.problems.selectors import path
from annotation.workspace.services.paths import continuation_attach
from workers.runners.common import load_generator


def continuation_prompt(problem: str, steps: list[str]) -> str:
    return join_steps([problem, *steps]) + "\n\n"


def run_continue(job: Job) -> dict[str, Any]:
    params = job_params(job, ContinueParams)
    job_progress_report(job, 0, 1)
    trace = in_project(job, Trace, [params.trace]).select_related("problem").get()
    steps = path(trace.pk)
    if [str(s.node_id) for s in steps] != list(params.prefix):
        return {"attached": False, "reason": "the path changed before the model ran"}
    prompt = continuation_prompt(trace.problem.text, [s.text for s in steps])
    generator = load_generator(params.model)
    (generation,) = generator.generate([prompt], params.sampling_params(1))[0]
    texts = split_steps(generation.text)
    attached = continuation_attach(trace_id=trace.pk, prefix=params.prefix, texts=texts)
    job_progress_report(job, 1)
    return {
        "attached": attached,
        "steps": len(texts),
        "tokens": generation.token_count,
        "finish": generation.finish_reason,
    }
