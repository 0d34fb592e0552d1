"""Whole-project analyses as jobs: the scorer comparison, the best-of-N curves and the
disagreement queue (with the agreement of people with machine suggestions) read every grade
of a project, minutes at PRM800K's size. Each runs as a job on the `default` queue (a row of
annotation/jobs/kinds.py) and stores its result in the job's row with the data version it
read (annotation/grading/tallies.py); the pages and the API read only the newest stored
result, and show its age and whether grades were written since, with a way to refresh it.

A result is JSON as the API returns it; the pages render the same dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotation.core.models import Project
from annotation.evaluation import selectors
from annotation.grading.models import SourceKind
from annotation.grading.tallies import data_version
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import JOB, Params, job_params, owns
from annotation.jobs.services import job_create
from annotation.jobs.typed_json import ParamsError

HERE = __name__
# The queue's stored list: the most contested traces first.
QUEUE_LENGTH = 200
PROBLEM_PREVIEW = 200


@dataclass(frozen=True)
class AnalysisParams(Params):
    """A whole-project analysis reads all of its project: nothing to choose."""


@dataclass(frozen=True)
class BestOfNParams(Params):
    sample_job: int | None = field(default=None, metadata=owns(JOB))  # only its samples


@dataclass(frozen=True)
class RoundComparisonParams(Params):
    """Two tree rounds and the filter of their common problems (annotation/trees/
    comparison_job.py); empty filter fields filter nothing."""

    round_a: int | None = field(default=None, metadata=owns(JOB))
    round_b: int | None = field(default=None, metadata=owns(JOB))
    subject: str = ""
    level: int | None = None
    correct: bool | None = None  # whether each tree has a correct leaf
    keyword: str = ""

    def rounds(self) -> tuple[int, int]:
        if self.round_a is None or self.round_b is None:
            raise ParamsError("round_a", "a round comparison needs round_a and round_b")
        return self.round_a, self.round_b


# Results as JSON --------------------------------------------------------------------------


def _source(source: Any) -> dict[str, Any]:
    return {
        "id": source.pk,
        "name": source.name,
        "kind": source.kind,
        "kind_label": SourceKind(source.kind).label,
        "job": source.job_id,
    }


def evaluation_json(row: selectors.SourceEvaluation) -> dict[str, Any]:
    return {
        "source": _source(row.source),
        "threshold": row.threshold,
        "threshold_traces": row.threshold_traces,
        "steps": row.steps,
        "step_accuracy": row.step_accuracy,
        "bad_precision": row.bad_precision,
        "bad_recall": row.bad_recall,
        "bad_f1": row.bad_f1,
        "auroc": row.auroc,
        "processbench": {**row.processbench, "traces": row.processbench_traces},
        "calibration": row.calibration,
    }


def comparison_json(result: selectors.Comparison) -> dict[str, Any]:
    return {
        "traces": result.traces,
        "calibration_traces": result.calibration_traces,
        "evaluation_traces": result.evaluation_traces,
        "sources": [evaluation_json(row) for row in result.rows],
    }


def best_of_n_json(report: selectors.BestOfN) -> dict[str, Any]:
    return {
        "problems": report.problems,
        "n": report.ns,
        "series": report.series,
        "tokens": report.tokens,
    }


def best_of_n_report(result: dict[str, Any]) -> selectors.BestOfN:
    """A stored best-of-N result as the report the page draws."""
    return selectors.BestOfN(
        problems=result["problems"],
        ns=result["n"],
        series=result["series"],
        tokens=result["tokens"],
    )


def queue_json(project: Project) -> dict[str, Any]:
    traces = selectors.disagreement_order(project).select_related("problem")[:QUEUE_LENGTH]
    agreement = selectors.suggestion_agreement(project)
    return {
        "traces": [
            {
                "id": t.pk,
                "disagreement": t.disagreement,  # type: ignore[attr-defined]
                "problem": t.problem.text[:PROBLEM_PREVIEW],
            }
            for t in traces
        ],
        "agreement": {
            "with_suggestions": agreement.with_suggestions,
            "with_count": agreement.with_count,
            "without_suggestions": agreement.without_suggestions,
            "without_count": agreement.without_count,
        },
    }


# The runners (the version is read first: a grade written while the analysis reads counts
# as written after it, so the result shows as outdated rather than as current) -------------


def run_scorer_comparison(job: Job) -> dict[str, Any]:
    version = data_version(job.project_id)
    return {"data_version": version, **comparison_json(selectors.compare_sources(job.project))}


def run_best_of_n(job: Job) -> dict[str, Any]:
    params = job_params(job, BestOfNParams)
    version = data_version(job.project_id)
    sample_job = Job.objects.get(pk=params.sample_job) if params.sample_job else None
    return {
        "data_version": version,
        **best_of_n_json(selectors.best_of_n(job.project, sample_job)),
    }


def run_disagreement_queue(job: Job) -> dict[str, Any]:
    version = data_version(job.project_id)
    return {"data_version": version, **queue_json(job.project)}


# Reading and starting ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """The newest finished analysis of a kind (None before the first) and a newer one still
    queued or running, if any; `outdated` when grades were written since it read them."""

    job: Job | None
    pending: Job | None
    outdated: bool

    @property
    def result(self) -> dict[str, Any] | None:
        return self.job.result if self.job is not None else None

    def meta(self) -> dict[str, Any]:
        """What the API tells about the stored result beside it."""
        return {
            "job": self.job.pk if self.job else None,
            "computed_at": self.job.finished_at if self.job else None,
            "data_version": self.job.result.get("data_version") if self.job else None,
            "outdated": self.outdated,
            "pending_job": self.pending.pk if self.pending else None,
        }


def stored_analysis(
    project: Project, kind: str, params: Params | None = None, *, version: int | None = None
) -> Stored:
    """Reads two job rows and the project's tallies, however big the project; `version` is
    the data's version now when the analysis reads more than grades (the grades' otherwise)."""
    jobs = project.jobs.filter(kind=kind, params=(params or AnalysisParams()).as_params())
    done = jobs.filter(status=JobStatus.SUCCEEDED).order_by("-finished_at", "-pk").first()
    pending = jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).order_by("-pk").first()
    now = data_version(project.pk) if version is None else version
    outdated = done is not None and done.result.get("data_version") != now
    return Stored(done, pending, outdated)


ANALYSES = {
    JobKind.SCORER_COMPARISON: AnalysisParams,
    JobKind.BEST_OF_N: BestOfNParams,
    JobKind.DISAGREEMENT_QUEUE: AnalysisParams,
    JobKind.AGREEMENT: AnalysisParams,  # annotation/workspace/agreement_job.py
    JobKind.ROUND_COMPARISON: RoundComparisonParams,  # annotation/trees/comparison_job.py
}


def analysis_start(*, project: Project, kind: str, user: Any, params: Params | None = None) -> Job:
    """Queue a fresh analysis; one already queued or running with the same parameters is
    returned instead of a second."""
    params = params or ANALYSES[JobKind(kind)]()
    pending = stored_analysis(project, kind, params).pending
    if pending is not None:
        return pending
    return job_create(project=project, kind=kind, params=params, created_by=user)
