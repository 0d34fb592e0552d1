"""A project to train on: per problem a journey (an expansion with its detour), a right and a
wrong model sample graded step by step by a person; exports of it run in-process."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from annotation.core.models import Project
from annotation.datasets.export.jobs import run_export
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.services import export_start
from annotation.grading.models import GradeSource
from annotation.grading.services import (
    StepGrade,
    monte_carlo_labels_write,
    monte_carlo_source,
    person_grades_write,
    person_source,
)
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.runners import runner_for
from annotation.jobs.services import job_claim, job_fail, job_finish
from annotation.llm.models import ModelConfig
from annotation.llm.services import model_config_create
from annotation.problems.models import Origin, Problem, Trace, TraceStep
from tests.factories import trace_with_steps
from tests.support.data import make_problems
from tests.support.models import tiny_model
from tests.support.worker import wait_until

# Hyperparameters that train the tiny model in a few steps.
FAST = {
    "batch_size": 2,
    "gradient_accumulation": 1,
    "logging_steps": 1,
    "learning_rate": 1e-3,
    "max_length": 256,
}


def graded_trace(
    problem: Problem, texts: list[str], ratings: list[int], source: GradeSource, **fields: Any
) -> Trace:
    """A trace whose steps `source` (a person) rated, written by the grading service."""
    trace = trace_with_steps(problem, texts, **fields)
    nodes = trace.steps.order_by("position").values_list("node_id", flat=True)
    person_grades_write(
        source=source,
        trace_id=trace.pk,
        wanted={
            node: StepGrade(rating, unsure=False)
            for node, rating in zip(nodes, ratings, strict=True)
        },
        with_critique=False,
    )
    return trace


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo label of one step: P(good) and the rating it stands for."""

    trace_id: int
    score: float
    inferred: bool = False

    @property
    def rating(self) -> int:
        return 1 if self.score >= 0.5 else -1  # the exports' default score threshold


def monte_carlo_estimates(project: Project, steps: Iterable[tuple[TraceStep, float]]) -> None:
    """Scores of a Monte-Carlo job of the project on these steps, by the grading service."""
    job = Job.objects.create(project=project, kind=JobKind.MONTE_CARLO, status=JobStatus.SUCCEEDED)
    monte_carlo_labels_write(
        source=monte_carlo_source(job=job, description="estimates"),
        labels={step.node_id: Estimate(step.trace_id, score) for step, score in steps},
    )


def training_project(project: Project, count: int = 12) -> list[Problem]:
    """`count` problems "Ann has a apples and gets b more", each with a journey, a right and a
    wrong sample; the samples' steps are graded by a person (+1 +1 and +1 -1)."""
    user = get_user_model().objects.create(username=f"grader-{project.pk}")
    person = person_source(user=user)
    problems = make_problems(project, count)
    for i, problem in enumerate(problems):
        a, b, answer = i + 2, i + 3, 2 * i + 5
        trace_with_steps(
            problem,
            [
                f"Maybe I should multiply: {a} * {b} = {a * b}.",
                "Wait, gets more means adding, not multiplying.",
                f"So {a} + {b} = {answer}.",
                f"The answer is \\boxed{{{answer}}}.",
            ],
            origin=Origin.EXPANSION,
            is_correct=True,
            final_answer=str(answer),
        )
        graded_trace(
            problem,
            [f"{a} + {b} = {answer}.", f"The answer is \\boxed{{{answer}}}."],
            [1, 1],
            person,
            origin=Origin.MODEL_SAMPLE,
            is_correct=True,
            final_answer=str(answer),
        )
        graded_trace(
            problem,
            [f"{a} + {b} = {answer + 1}.", f"I guess the answer is \\boxed{{{answer + 1}}}."],
            [1, -1],
            person,
            origin=Origin.MODEL_SAMPLE,
            is_correct=False,
            final_answer=str(answer + 1),
        )
    return problems


HELD_OUT = ("p9", "p10", "p11")  # the test split of every export made here


def export_now(project: Project, format_name: str, **options: Any) -> Job:
    """An export job run in this process (no worker), held-out problems in its test split."""
    options.setdefault("held_out", HELD_OUT)
    job = export_start(
        project=project, user=None, options=ExportOptions(format=format_name, **options)
    )
    claimed = job_claim(job.pk)
    if claimed is None:
        # A test's worker process took the queued job first (more likely on a loaded
        # machine): it runs the same export, so wait for it instead.
        wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, 300, what=f"export job {job.pk}")
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        return job
    job_finish(claimed, result=run_export(claimed))
    claimed.refresh_from_db()
    return claimed


def base_config(project: Project, name: str = "tiny base") -> ModelConfig:
    """The tiny causal LM as a transformers generator of the project."""
    return model_config_create(
        project=project,
        name=name,
        kind="transformers",
        path_or_endpoint=str(tiny_model("lm")),
        dtype="float32",
        default_sampling={"max_tokens": 16, "temperature": 1.0, "seed": 3},
    )


def run_now(job: Job) -> Job:
    """Claim a job and run it in this process, as the worker's task would."""
    claimed = job_claim(job.pk)
    assert claimed is not None
    try:
        result = runner_for(claimed.kind)(claimed)
    except Exception as error:
        job_fail(claimed, str(error))
        raise
    job_finish(claimed, result=result)
    claimed.refresh_from_db()
    return claimed


# GRPO: two problems per step (batch 4 x accumulation 2 / groups of 4), short completions.
GRPO_FAST = {
    "group_size": 4,
    "batch_size": 4,
    "gradient_accumulation": 2,
    "max_new_tokens": 12,
    "learning_rate": 1e-4,
    "logging_steps": 1,
    "beta": 0.04,
}
GRPO_REWARD = {"outcome_weight": 1.0, "process_weight": 0.5, "aggregation": "min"}


def prm_config(project: Project, name: str = "tiny prm") -> ModelConfig:
    """The tiny Math-Shepherd style PRM as a transformers scorer of the project."""
    return model_config_create(
        project=project,
        name=name,
        kind="transformers",
        path_or_endpoint=str(tiny_model("math-shepherd")),
        dtype="float32",
        scorer_head="math-shepherd",
    )


def start_grpo(project: Project, name: str, **given: Any) -> Job:
    """A GRPO job on the train split of an sft-journey export (problems p0..p8), from the
    tiny base, rewarded by the answer check and the tiny PRM."""
    from annotation.llm.models import PromptPurpose
    from annotation.training.services import grpo_job_start
    from tests.support.data import prompt

    values: dict[str, Any] = {
        "project": project,
        "user": None,
        "name": name,
        "split": "train",
        "reward": GRPO_REWARD,
        "hyperparameters": GRPO_FAST,
        **given,
    }
    if "base" not in values:
        values["base"] = base_config(project)
    if "reward_model" not in values:
        values["reward_model"] = prm_config(project)
    if "prompt" not in values:
        values["prompt"] = prompt(project, PromptPurpose.SAMPLE)
    if "export" not in values and "problem_ids" not in values:
        values["export"] = export_now(project, "sft-journey")
    return grpo_job_start(**values)
