"""Reads of the training app: the results table of an evaluation, a policy's samples before
and after reinforcement learning, lineage up and down, the loss (and reward) curve and ETA of
a run."""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from algorithms.results import Sample, Summary, report_ks, summarize
from algorithms.rewards import RewardSpec
from algorithms.sample_behaviour import (
    Behaviour,
    BehaviourSummary,
    summarize_behaviour,
)
from algorithms.training import eta_seconds
from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import job_params
from annotation.llm.models import ModelConfig
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import TraceView, load_trace_views, trace_texts
from annotation.training.models import ModelLineage, TrainingLogEntry
from annotation.training.params import EvaluationParams

TRAINING_KINDS = (JobKind.TRAIN_SFT, JobKind.TRAIN_DPO, JobKind.TRAIN_PRM, JobKind.TRAIN_GRPO)
COMPARED_PROBLEMS = 20  # problems whose first samples the before/after page shows side by side
MAX_LINEAGE_DEPTH = 50  # a chain longer than this is cut (a cycle cannot be made, but still)


# Results table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    model_id: int
    label: str
    trained: str  # how the model was made, from its lineage ("" for a base model)
    summary: Summary
    reinforced: bool = False  # a "+RL" row: a GRPO policy
    parent_id: int | None = None  # the model it was trained from


@dataclass(frozen=True)
class ResultsTable:
    ks: list[int]
    problems: int  # the held-out problems asked
    excluded_training_problems: int
    rows: list[ResultRow]


@dataclass(frozen=True)
class ScoredSample:
    sample: Sample
    behaviour: Behaviour | None  # None: evaluated before the counts were recorded


def scored_samples(
    job: Job, model_ids: list[int] | None = None
) -> dict[int, dict[int, list[ScoredSample]]]:
    """model config id -> problem id -> its samples in the order they were drawn."""
    traces = Trace.objects.filter(
        job=job, origin=Origin.EVALUATION, problem__project=job.project_id
    )
    if model_ids is not None:
        traces = traces.filter(metadata__model_config__in=model_ids)
    rows = traces.values_list(
        "problem_id",
        "is_correct",
        "metadata__model_config",
        "metadata__answer_group",
        "metadata__tokens",
        "metadata__sample_index",
        "metadata__reflections",
        "metadata__backtracks",
    )
    found: dict[int, dict[int, list[tuple[int, ScoredSample]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for problem_id, correct, model_id, group, tokens, index, reflections, backtracks in rows:
        sample = Sample(group, correct is True, int(tokens or 0))
        counted = reflections is not None and backtracks is not None
        behaviour = Behaviour(int(reflections), int(backtracks)) if counted else None
        found[int(model_id)][problem_id].append((int(index), ScoredSample(sample, behaviour)))
    return {
        model: {problem: [s for _, s in sorted(samples)] for problem, samples in by_problem.items()}
        for model, by_problem in found.items()
    }


def evaluation_samples(job: Job) -> dict[int, dict[int, list[Sample]]]:
    """model config id -> problem id -> its samples in the order they were drawn."""
    return {
        model: {problem: [s.sample for s in samples] for problem, samples in by_problem.items()}
        for model, by_problem in scored_samples(job).items()
    }


def how_trained(lineage: ModelLineage | None) -> str:
    if lineage is None:
        return ""
    export = f" (export {lineage.export_job_id})" if lineage.export_job_id else ""
    if lineage.method == "grpo":
        spec = RewardSpec.from_params({k: v for k, v in lineage.reward.items() if k != "prompt"})
        return (
            f"+RL: GRPO on {lineage.train_rows} {lineage.export_format}{export} "
            f"from {lineage.parent_label}, rewarded by "
            f"{spec.describe(lineage.reward_model_label or None)}"
        )
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
        lineage = lineages.get(model.id)
        rows.append(
            ResultRow(
                model_id=model.id,
                label=model.label,
                trained=how_trained(lineage),
                summary=summarize([by_problem.get(p, []) for p in params.problem_ids], ks),
                reinforced=lineage is not None and lineage.method == "grpo",
                parent_id=lineage.parent_id if lineage is not None else None,
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
                "reinforced": row.reinforced,
                "problems": row.summary.problems,
                "samples": row.summary.samples,
                "accuracy": row.summary.accuracy,
                "accuracy_interval": list(row.summary.accuracy_interval or ()) or None,
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


@dataclass(frozen=True)
class Side:
    """One model's samples on the held-out problems of an evaluation."""

    model_id: int
    label: str
    summary: Summary
    behaviour: BehaviourSummary


@dataclass(frozen=True)
class FirstSample:
    trace_id: int
    text: str
    correct: bool | None


@dataclass(frozen=True)
class ProblemPair:
    """One problem: each side's correct samples, and its first sample to read."""

    problem_id: int
    problem: str
    correct: tuple[int, int]  # before, after
    samples: tuple[int, int]
    first: tuple[FirstSample | None, FirstSample | None]


@dataclass(frozen=True)
class BeforeAfter:
    before: Side
    after: Side
    problems: list[ProblemPair]  # the first COMPARED_PROBLEMS held-out problems

    @property
    def sides(self) -> list[tuple[str, Side]]:
        return [("before", self.before), ("after", self.after)]


def before_after(job: Job, after_id: int, before_id: int) -> BeforeAfter:
    """Two models of an evaluation side by side (a policy before and after a GRPO run: its
    parent and itself), on the same held-out problems and sampling: accuracy, length, how
    often the samples reflect or backtrack, and the first problems' samples to read."""
    params = job_params(job, EvaluationParams)
    labels = {m.id: m.label for m in params.models}
    samples = scored_samples(job, [before_id, after_id])
    ks = report_ks(params.k)

    def side(model_id: int) -> Side:
        by_problem = samples.get(model_id, {})
        per_problem = [by_problem.get(p, []) for p in params.problem_ids]
        return Side(
            model_id=model_id,
            label=labels[model_id],
            summary=summarize([[s.sample for s in ss] for ss in per_problem], ks),
            behaviour=summarize_behaviour([s.behaviour for ss in per_problem for s in ss]),
        )

    shown = list(params.problem_ids[:COMPARED_PROBLEMS])
    firsts = Trace.objects.filter(
        job=job,
        origin=Origin.EVALUATION,
        problem__project=job.project_id,
        problem_id__in=shown,
        metadata__model_config__in=[before_id, after_id],
        metadata__sample_index=0,
    ).values_list("pk", "problem_id", "is_correct", "metadata__model_config")
    rows = list(firsts)
    sample_texts = trace_texts([pk for pk, *_ in rows])
    first = {
        (int(model_id), problem_id): FirstSample(pk, sample_texts.get(pk, ""), correct)
        for pk, problem_id, correct, model_id in rows
    }
    texts = dict(
        Problem.objects.filter(pk__in=shown, project=job.project_id).values_list("pk", "text")
    )

    def counts(model_id: int, problem_id: int) -> tuple[int, int]:
        drawn = samples.get(model_id, {}).get(problem_id, [])
        return sum(s.sample.correct for s in drawn), len(drawn)

    pairs = []
    for problem_id in shown:
        (before_correct, before_n), (after_correct, after_n) = (
            counts(before_id, problem_id),
            counts(after_id, problem_id),
        )
        pairs.append(
            ProblemPair(
                problem_id=problem_id,
                problem=texts.get(problem_id, ""),
                correct=(before_correct, after_correct),
                samples=(before_n, after_n),
                first=(first.get((before_id, problem_id)), first.get((after_id, problem_id))),
            )
        )
    return BeforeAfter(before=side(before_id), after=side(after_id), problems=pairs)


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


def rewarded_by(config: ModelConfig, *, limit: int = 200) -> list[ModelLineage]:
    """The policies a reward model (a PRM) rewarded in their GRPO runs."""
    rows = ModelLineage.objects.filter(reward_model=config).select_related("config")
    return list(rows.order_by("created_at", "pk")[:limit])


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
    """The logging steps, without their recorded reward samples (read one step at a time)."""
    entries = TrainingLogEntry.objects.filter(job=job).defer("reward_samples")
    return list(entries.order_by("step"))


def reward_samples(job: Job, step: int | None = None) -> TrainingLogEntry | None:
    """The logging step `step` with its recorded rewards, or the latest that has some."""
    entries = TrainingLogEntry.objects.filter(job=job).exclude(reward_samples=[])
    if step is not None:
        entries = entries.filter(step=step)
    return entries.order_by("-step").first()


def training_eta(job: Job, log: list[TrainingLogEntry]) -> float | None:
    """Seconds left at the pace of the current attempt, from its last logging step."""
    if job.is_finished or not log or not job.total:
        return None
    last = log[-1]
    return eta_seconds(last.step, job.total, last.attempt_start_step, last.attempt_seconds)
