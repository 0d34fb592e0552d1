"""Two tree rounds side by side as a job (kind `round_comparison`, queue `default`): the
comparison reads every tree of both rounds (rounds of thousands of problems), so the compare
page does not; the job stores the rows with the version of the rounds it read, and the page
shows the stored rows, their age and a refresh (annotation/evaluation/analyses.py reads and
starts it, as it does the other whole-project analyses).

The version is what the two rounds' job rows say of their progress: a round's trees are
written while it runs (its `done` grows) and no more once it ended."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from annotation.core.models import Project
from annotation.evaluation.analyses import RoundComparisonParams, Stored, stored_analysis
from annotation.jobs.models import FINISHED_STATUSES, Job, JobKind
from annotation.jobs.params import job_params
from annotation.trees.forms import FilterForm
from annotation.trees.selectors.rounds import ComparisonRow, ProblemFilter, compare_rounds


def rounds_version(round_ids: Sequence[int]) -> int:
    """Grows with every problem a round finishes and when a round ends (two job rows)."""
    return sum(
        done + int(status in FINISHED_STATUSES)
        for done, status in Job.objects.filter(pk__in=round_ids).values_list("done", "status")
    )


def comparison_json(rows: list[ComparisonRow]) -> dict[str, Any]:
    return {
        "rows": [
            {
                "problem": {"id": row.problem.pk, "external_id": row.problem.external_id},
                "cells": [
                    None
                    if cell is None
                    else {
                        "nodes": cell.nodes,
                        "leaves": cell.leaves,
                        "correct_leaves": cell.correct_leaves,
                        "max_depth": cell.max_depth,
                    }
                    for cell in row.cells
                ],
            }
            for row in rows
        ]
    }


def _filter(params: RoundComparisonParams) -> ProblemFilter:
    return ProblemFilter(params.subject, params.level, params.correct, params.keyword)


def run_round_comparison(job: Job) -> dict[str, Any]:
    params = job_params(job, RoundComparisonParams)
    ids = params.rounds()
    version = rounds_version(ids)  # read first: a tree written meanwhile shows as outdated
    rounds = Job.objects.filter(project_id=job.project_id, kind=JobKind.TREE).in_bulk(ids)
    if len(rounds) != len(set(ids)):
        raise ValueError("round_a and round_b must be tree rounds of the project")
    rows = compare_rounds([rounds[pk] for pk in ids], _filter(params))
    return {"data_version": version, **comparison_json(rows)}


def comparison_params(
    rounds: Mapping[int, Job], data: Mapping[str, str]
) -> RoundComparisonParams | None:
    """The comparison a compare page's query (or its refresh form) asks for: rounds `a` and
    `b` among `rounds` and the filter fields; None until two rounds are chosen."""
    chosen = [int(v) for v in (data.get("a", ""), data.get("b", "")) if v.isdigit()]
    if len(chosen) != 2 or any(pk not in rounds for pk in chosen):
        return None
    flt = FilterForm(data).problem_filter()
    return RoundComparisonParams(
        round_a=chosen[0],
        round_b=chosen[1],
        subject=flt.subject,
        level=flt.level,
        correct=flt.correct,
        keyword=flt.keyword,
    )


def comparison_query(data: Mapping[str, str]) -> dict[str, str]:
    """The fields of a compare page's query (the rounds and the filter) among `data`."""
    names = ("a", "b", *FilterForm.base_fields)
    return {name: data[name] for name in names if data.get(name)}


def stored_comparison(project: Project, params: RoundComparisonParams) -> Stored:
    """The stored comparison of these parameters, judged outdated against the rounds' own
    version."""
    version = rounds_version(params.rounds())
    return stored_analysis(project, JobKind.ROUND_COMPARISON, params, version=version)
