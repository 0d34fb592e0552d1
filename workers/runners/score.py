"""Scoring job: a PRM or an LLM judge scores every step on the path of chosen traces.

Scores are Grade rows of the job's grade source (kind prm or judge; a judge's reasons in
Grade.reason). A trace is done when every node on its path has a current grade of the source.
"""

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count

from annotation.grading.selectors import current_grades
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import ScoreParams, job_params
from annotation.problems.models import Trace
from annotation.problems.selectors import paths as trace_paths
from workers.runners.common import Work, job_grade_source, run_work, score_steps, write_grades


def run_score(job: Job) -> dict[str, Any]:
    return run_work(job, score_work(job))


def score_work(job: Job) -> Work:
    params = job_params(job, ScoreParams)
    scorer = params.scorer
    source = job_grade_source(job, scorer)

    def process(chunk: list[int]) -> None:
        problems = dict(in_project(job, Trace, chunk).values_list("pk", "problem__text"))
        chunk = [tid for tid in chunk if tid in problems]
        paths: dict[int, list[tuple[uuid.UUID, str]]] = {
            trace_id: [(step.node_id, step.text) for step in path]
            for trace_id, path in trace_paths(chunk).items()
        }
        graded = set(
            current_grades()
            .filter(source=source, node_id__in=[n for p in paths.values() for n, _ in p])
            .values_list("node_id", flat=True)
        )
        todo = [tid for tid in chunk if any(nid not in graded for nid, _ in paths.get(tid, []))]
        if not todo:
            return
        scored = score_steps(scorer, [(problems[tid], [t for _, t in paths[tid]]) for tid in todo])
        with transaction.atomic():
            write_grades(
                source,
                [
                    (tid, nid, scores, index)
                    for tid, scores in zip(todo, scored, strict=True)
                    for index, (nid, _) in enumerate(paths[tid])
                ],
            )

    def result(_: object) -> dict[str, Any]:
        summary = (
            current_grades().filter(source=source).aggregate(grades=Count("id"), mean=Avg("score"))
        )
        return {
            "traces": len(params.trace_ids),
            "grades": summary["grades"],
            "mean_score": round(summary["mean"], 4) if summary["mean"] is not None else None,
            "source": source.name,
        }

    return Work(
        items=params.trace_ids, chunk_size=params.chunk_size, process=process, result=result
    )
