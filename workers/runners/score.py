"""Scoring job: a PRM or an LLM judge scores every step on the path of chosen traces.

Scores are Grade rows of the job's grade source (kind prm or judge; a judge's reasons in
Grade.reason). A trace is done when every node on its path has a current grade of the source.
"""

import uuid
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count

from annotation.grading.models import Grade
from annotation.jobs.models import Job
from annotation.problems.models import Trace, TraceStep
from workers.runners.common import Work, job_grade_source, run_work, score_steps, write_grades


def run_score(job: Job) -> dict[str, Any]:
    return run_work(job, score_work(job))


def score_work(job: Job) -> Work:
    scorer = job.params["scorer"]
    source = job_grade_source(job, scorer)

    def process(chunk: list[int]) -> None:
        paths: dict[int, list[tuple[uuid.UUID, str]]] = defaultdict(list)
        rows = (
            TraceStep.objects.filter(trace_id__in=chunk, on_path=True)
            .order_by("trace_id", "position")
            .values_list("trace_id", "node_id", "node__text")
        )
        for trace_id, nid, text in rows:
            paths[trace_id].append((nid, text))
        graded = set(
            Grade.objects.filter(
                source=source,
                is_current=True,
                node_id__in=[n for p in paths.values() for n, _ in p],
            ).values_list("node_id", flat=True)
        )
        todo = [tid for tid in chunk if any(nid not in graded for nid, _ in paths.get(tid, []))]
        if not todo:
            return
        problems = dict(Trace.objects.filter(pk__in=todo).values_list("pk", "problem__text"))
        todo = [tid for tid in todo if tid in problems]
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
        summary = source.grades.filter(is_current=True).aggregate(
            grades=Count("id"), mean=Avg("score")
        )
        return {
            "traces": len(job.params["trace_ids"]),
            "grades": summary["grades"],
            "mean_score": round(summary["mean"], 4) if summary["mean"] is not None else None,
            "source": source.name,
        }

    return Work(
        items=job.params["trace_ids"],
        chunk_size=int(job.params["chunk_size"]),
        process=process,
        result=result,
    )
