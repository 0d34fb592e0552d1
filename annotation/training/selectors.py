"""Reads of the training app: the results table of an evaluation, lineage up and down, the
loss curve and ETA of a run."""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from algorithms.results import Sample, Summary, report_ks, summarize
from algorithms.training import eta_seconds
from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import job_params
from annotation.llm.models import ModelConfig
from annotation.problems.models import Origin, Trace
from annotation.problems.selectors import TraceView, load_trace_views
from annotation.training.models import ModelLineage, TrainingLogEntry
from annotation.training.params import EvaluationParams

TRAINING_KINDS = (JobKind.TRAIN_SFT, JobKind.TRAIN_DPO, JobKind.TRAIN_PRM)
MAX_LINEAGE_DEPTH = 50  # a chain longer than this is cut (a cycle cannot be made, but still)


# Results table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    model_id: int
    label: str
    trained: str  # how the model was made, from its lineage ("" for a base model)
    summary: Summary


@dataclass(frozen=True)
class ResultsTable:
    ks: list[int]
    problems: int  # the held-out problems asked
    excluded_training_problems: int
    rows: list[ResultRow]


def evaluation_samples(job: Job) -> dict[int, dict[int, list[Sample]]]:
    """model config id -> problem id -> its samples in the order they were drawn."""
    rows = Trace.objects.filter(
        job=job, origin=Origin.EVALUATION, problem__project=job.project_id
    ).values_list(
        "problem_id",
        "is_correct",
        "metadata__model_config",
        "metadata__answer_group",
        "metadata__tokens",
        "metadata__sample_index",
    )
    found: dict[int, dict[int, list[tuple[int, Sample]]]] = defaultdict(lambda: defaultdict(list))
    for problem_id, correct, model_id, group, tokens, index in rows:
        sample = Sample(group, correct is True, int(tokens or 0))
        found[int(model_id)][problem_id].append((int(index), sample))
    return {
        model: {problem: [s for _, s in sorted(samples)] for problem, samples in by_problem.items()}
        for model, by_problem in found.items()
    }


def how_trained(lineage: ModelLineage | None) -> str:
    if lineage is None:
        return ""
    export = f" (export {lineage.export_job_id})" if lineage.export_job_id else ""
    return (
        f"{lineage.get_method_display()} on {lineage.export_format}{export} "
        f"from {lineage.parent_label}"
    )


def results_table(job: Job) -> ResultsTable:
    """One row per evaluated model, in the order the job lists them: accuracy, pass@k and
    majority@k for k = 1, 2, 4, ... k, and the mean generated tokens."""
    params = job_params(job, EvaluationParams)
    ks = report_ks(params.k)
    samples = evaluation_samples(job)
    lineages = ModelLineage.objects.in_bulk([m.id for m in params.models], field_name="config_id")
    rows = []
    for model in params.models:
        by_problem = samples.get(model.id, {})
        rows.append(
            ResultRow(
                model_id=model.id,
                label=model.label,
                trained=how_trained(lineages.get(model.id)),
                summary=summarize([by_problem.get(p, []) for p in params.problem_ids], ks),
            )
        )
    return ResultsTable(
        ks=ks,
        problems=len(params.problem_ids),
        excluded_training_problems=params.held_out.excluded_training_problems,
        rows=rows,
    )


def evaluation_result(job: Job) -> dict[str, Any]:
    """The results table as the job's result (JSON)."""
    table = results_table(job)
    return {
        "problems": table.problems,
        "excluded_training_problems": table.excluded_training_problems,
        "rows": [
            {
                "model_config": row.model_id,
                "model": row.label,
                "trained": row.trained,
                "problems": row.summary.problems,
                "samples": row.summary.samples,
                "accuracy": row.summary.accuracy,
                **{f"pass@{k}": v for k, v in row.summary.pass_at.items()},
                **{f"maj@{k}": v for k, v in row.summary.majority_at.items()},
                "mean_tokens": row.summary.mean_tokens,
            }
            for row in table.rows
        ],
    }


def model_samples(job: Job, model_id: int, *, limit: int = 200) -> list[TraceView]:
    """The samples behind one row of the results table, with their steps (of the job's
    project only)."""
    traces = (
        Trace.objects.filter(
            job=job,
            origin=Origin.EVALUATION,
            metadata__model_config=model_id,
            problem__project=job.project_id,
        )
        .select_related("problem")
        .order_by("problem_id", "id")[:limit]
    )
    return load_trace_views(list(traces))


def evaluation_jobs(project: Project, *, limit: int = 50) -> QuerySet[Job]:
    return Job.objects.filter(project=project, kind=JobKind.EVALUATE).order_by("-id")[:limit]


# Lineage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineageNode:
    config: ModelConfig | None  # None: the base was deleted since (its label remains)
    label: str
    lineage: ModelLineage | None  # None: a model not trained here
    depth: int = 0


def ancestry(config: ModelConfig) -> list[LineageNode]:
    """From the first base down to `config`: what it was trained from, step by step."""
    chain = [LineageNode(config, config.label, _lineage(config))]
    seen = {config.pk}
    while (top := chain[0].lineage) is not None and len(chain) < MAX_LINEAGE_DEPTH:
        parent = top.parent
        if parent is None or parent.pk in seen:
            chain.insert(0, LineageNode(None, top.parent_label, None))
            break
        seen.add(parent.pk)
        chain.insert(0, LineageNode(parent, parent.label, _lineage(parent)))
    return chain


def descendants(config: ModelConfig) -> list[LineageNode]:
    """Every model trained from `config`, directly or not, depth first in creation order."""
    found: list[LineageNode] = []

    def visit(parent_id: int, depth: int) -> None:
        if depth > MAX_LINEAGE_DEPTH:
            return
        children = ModelLineage.objects.filter(parent_id=parent_id).select_related(
            "config", "export_job", "job"
        )
        for row in children.order_by("created_at", "pk"):
            found.append(LineageNode(row.config, row.config.label, row, depth))
            visit(row.config_id, depth + 1)

    visit(config.pk, 1)
    return found


def _lineage(config: ModelConfig) -> ModelLineage | None:
    return (
        ModelLineage.objects.select_related("parent", "export_job", "job")
        .filter(config=config)
        .first()
    )


def evaluations_of(config: ModelConfig, *, limit: int = 200) -> list[Job]:
    """The evaluation jobs that include the model (their params list it)."""
    jobs = evaluation_jobs(config.project, limit=limit)
    return [j for j in jobs if any(m.get("id") == config.pk for m in j.params.get("models", []))]


# Runs ----------------------------------------------------------------------------------------


def training_jobs(project: Project, *, limit: int = 50) -> QuerySet[Job]:
    return (
        Job.objects.filter(project=project, kind__in=TRAINING_KINDS)
        .select_related("trained_model__config")
        .order_by("-id")[:limit]
    )


def training_log(job: Job) -> list[TrainingLogEntry]:
    return list(TrainingLogEntry.objects.filter(job=job).order_by("step"))


def training_eta(job: Job, log: list[TrainingLogEntry]) -> float | None:
    """Seconds left at the pace of the current attempt, from its last logging step."""
    if job.is_finished or not log or not job.total:
        return None
    last = log[-1]
    return eta_seconds(last.step, job.total, last.attempt_start_step, last.attempt_seconds)
