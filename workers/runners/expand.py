"""Expansion job (O1-Journey's human-AI pipeline) and STaR-style rationalization.

expand: a human thought record (or any trace) becomes long-form reasoning under the stored
prompt; each output is a new trace (origin expansion) linked to its source record.
rationalize: a problem and its known answer become a step-by-step solution.
Outputs are split into steps, answer-graded, and scored when the job names a scorer.
"""

from typing import Any

from algorithms.prompts import render_prompt
from annotation.grading.models import GradeSource
from annotation.grading.selectors import current_grades
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import ExpandParams, job_params
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import TraceView, load_trace_views
from annotation.workspace.review_filter import traces_passing
from workers.runners.common import (
    NewTrace,
    Work,
    existing_external_ids,
    generate,
    generation_result,
    job_grade_source,
    new_traces,
    run_work,
    score_steps,
    write_traces,
)


def record_text(view: TraceView) -> str:
    """A record as the prompt shows it: one paragraph per step, kinds other than plain steps
    named, so attempts, reflections, backtracks and corrections stay visible."""
    return "\n\n".join(
        step.text if step.kind == "step" else f"[{step.kind}] {step.text}" for step in view.path
    )


def run_expand(job: Job) -> dict[str, Any]:
    return run_work(job, expand_work(job))


def expand_work(job: Job) -> Work:
    params = job_params(job, ExpandParams)
    mode = params.mode
    scorer = params.scorer
    source = job_grade_source(job, scorer) if scorer else None
    label = {"model": params.model.label, "prompt": params.prompt.label, "mode": mode}

    def prompts_for(chunk: list[int]) -> list[tuple[Problem, str, str, int | None]]:
        """(problem, key, prompt, source trace id) for the items of the chunk still to do."""
        if mode == "expand":
            keys = {tid: f"job{job.pk}:t{tid}" for tid in chunk}
            done = existing_external_ids(job, [f"{k}:0" for k in keys.values()])
            traces = traces_passing(  # reviewed again: a record may be rejected meanwhile
                in_project(job, Trace, [tid for tid in chunk if f"{keys[tid]}:0" not in done]),
                params.review,
            ).select_related("problem")
            views = {v.trace.pk: v for v in load_trace_views(list(traces))}
            return [
                (
                    views[tid].trace.problem,
                    keys[tid],
                    render_prompt(
                        params.prompt.text,
                        {
                            "problem": views[tid].trace.problem.text,
                            "record": record_text(views[tid]),
                        },
                    ),
                    tid,
                )
                for tid in chunk
                if tid in views
            ]
        keys = {pid: f"job{job.pk}:p{pid}" for pid in chunk}
        done = existing_external_ids(job, [f"{k}:0" for k in keys.values()])
        problems = in_project(
            job, Problem, [pid for pid in chunk if f"{keys[pid]}:0" not in done]
        ).in_bulk()
        return [
            (
                problems[pid],
                keys[pid],
                render_prompt(
                    params.prompt.text,
                    {"problem": problems[pid].text, "answer": problems[pid].answer or ""},
                ),
                None,
            )
            for pid in chunk
            if pid in problems and problems[pid].answer
        ]

    def process(chunk: list[int]) -> None:
        todo = prompts_for(chunk)
        if not todo:
            return
        prompts = [t[2] for t in todo]
        outputs, seconds = generate(params.model, prompts, params.sampling_params(params.n))
        chunk_tokens = sum(g.token_count for gens in outputs for g in gens)
        traces: list[NewTrace] = []
        for (problem, key, _, source_trace_id), generations in zip(todo, outputs, strict=True):
            traces += new_traces(
                problem,
                generations,
                key=key,
                origin=Origin.EXPANSION,
                seconds=seconds,
                chunk_tokens=chunk_tokens,
                source_trace_id=source_trace_id,
                metadata=label,
            )
        if scorer:
            scored = score_steps(scorer, [(t.problem.text, t.steps) for t in traces])
            for trace, scores in zip(traces, scored, strict=True):
                trace.scores = scores
        write_traces(job, traces, source)

    def result(_: object) -> dict[str, Any]:
        summary = generation_result(job)
        if source is not None:
            summary["grades"] = grade_count(source)
        return summary

    return Work(items=params.items, chunk_size=params.chunk_size, process=process, result=result)


def grade_count(source: GradeSource) -> int:
    return current_grades().filter(source=source).count()
