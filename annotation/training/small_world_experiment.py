"""The report's experiment on the small world, in one run (issue 33; the command
`manage.py run_small_world_experiment`):

    sample -> Monte-Carlo labels -> a PRM trained from them -> trees scored by that PRM
      -> long thoughts -> SFT on shortcuts and SFT on journeys (the same problems, the same
      held-out split) -> DPO from the journey model (20 samples, 5 + 5 -> 5 pairs)
      -> an evaluation on the held-out problems: the results table, with intervals

Every stage is a job of the project started through its own service, so it is checked, frozen
and recorded like any job, and run by `drive` (the command runs the workers' own tasks in its
process, or waits for a worker). The models it trains are model configs with their lineage.

SFT and DPO read chat messages (the export formats), so they start from the generator read
with its chat template (`CHAT_BASE`): each row of the table is sampled the way its model was
trained, and the table shows the base both ways.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from algorithms.small_world import TREE_FORM_PROMPT
from annotation.core.models import Project
from annotation.datasets.export.journey_formats import trials_of
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.services import export_start
from annotation.datasets.small_world import (
    GENERATOR,
    HELD_OUT_SUBJECT,
    SAMPLING,
    TRAIN_SUBJECT,
    held_out_ids,
    small_world_config,
    small_world_import,
)
from annotation.evaluation.services import monte_carlo_job_start
from annotation.jobs.models import Job, JobStatus
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import default_prompt_version, sample_job_start
from annotation.problems.models import Origin, Problem, Trace
from annotation.training.selectors import results_table
from annotation.training.services import (
    evaluation_job_start,
    training_job_start,
)
from annotation.trees.services import long_thought_job_start, tree_job_start, tree_params

CHAT_BASE = f"{GENERATOR} (chat template)"
# The stages, in order, as the progress lines and the report name them.
STAGES = (
    "import",
    "sample",
    "monte_carlo",
    "prm",
    "trees",
    "long_thoughts",
    "sft_shortcut",
    "sft_journey",
    "dpo",
    "evaluate",
)


@dataclass(frozen=True)
class Sizes:
    """How much each stage does. The defaults finish within an hour on an idle 2-core machine
    (docs/small_world.md has the measured run); smaller ones make a quick check."""

    seed: int = 0
    train_problems: int = 600  # imported training problems: the stages work on them
    test_problems: int = 200  # held out: the evaluation's problems
    samples: int = 4  # per training problem, from the generator
    mc_traces: int = 300  # of those samples, labelled by Monte-Carlo rollouts
    rollouts: int = 4  # per step prefix
    prm_epochs: float = 3.0
    tree_width: int = 4  # candidates per frontier node
    tree_keep: int = 3  # the PRM's best kept per depth
    tree_depth: int = 6  # a level-5 chain has 5 steps and the answer's
    sft_epochs: float = 3.0
    dpo_problems: int = 200  # the first training problems, sampled by the journey model
    dpo_samples: int = 20  # per problem
    dpo_pairs: int = 5  # per problem: 5 correct + 5 incorrect -> 5 pairs
    dpo_epochs: float = 1.0
    eval_samples: int = 4  # per held-out problem and model
    eval_temperature: float = 0.7
    max_tokens: int = 400  # a journey's trials make it longer than a shortcut
    batch_size: int = 8
    learning_rate: float = 1e-3  # PRM and SFT
    dpo_learning_rate: float = 1e-4


@dataclass
class StageRecord:
    name: str
    seconds: float
    jobs: list[int]
    note: str


@dataclass
class Experiment:
    """What a run made: every stage's jobs, time and a note; the models; the evaluation."""

    project: Project
    sizes: Sizes
    stages: list[StageRecord] = field(default_factory=list)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    evaluation: Job | None = None

    def report(self) -> dict[str, Any]:
        table = results_table(self.evaluation) if self.evaluation is not None else None
        return {
            "project": self.project.pk,
            "sizes": asdict(self.sizes),
            "stages": [asdict(s) for s in self.stages],
            "total_seconds": round(sum(s.seconds for s in self.stages), 1),
            "evaluation_job": self.evaluation.pk if self.evaluation is not None else None,
            "rows": [
                {
                    "model": row.label,
                    "model_config": row.model_id,
                    "trained": row.trained or "base",
                    "accuracy": row.summary.accuracy,
                    "interval": row.summary.accuracy_interval,
                    "problems": row.summary.problems,
                    "samples": row.summary.samples,
                }
                for row in (table.rows if table is not None else [])
            ],
        }


class StageFailed(Exception):
    pass


Drive = Callable[[Job], Job]  # runs a job to its end and returns it refreshed
Say = Callable[[str], None]


def run_experiment(
    *, project: Project, sizes: Sizes, drive: Drive, say: Say = lambda line: None
) -> Experiment:
    """Run every stage in order on `project` (its small-world problems imported first)."""
    run = Experiment(project=project, sizes=sizes)
    started = time.monotonic()

    def stage(name: str, work: Callable[[], tuple[list[Job], str]]) -> list[Job]:
        say(f"[{elapsed()}] {name}: starting")
        begun = time.monotonic()
        jobs, note = work()
        seconds = time.monotonic() - begun
        run.stages.append(StageRecord(name, round(seconds, 1), [j.pk for j in jobs], note))
        say(f"[{elapsed()}] {name}: done in {seconds:.0f} s; {note}")
        return jobs

    def elapsed() -> str:
        seconds = int(time.monotonic() - started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def finished(job: Job) -> Job:
        job = drive(job)
        if job.status != JobStatus.SUCCEEDED:
            raise StageFailed(f"job {job.pk} ({job.kind}) {job.status}: {job.error}")
        return job

    stage("import", lambda: _import(run))
    generator, chat_base = _configs(project)
    run.models.update({"base": generator, "base_chat": chat_base})
    sample_prompt = default_prompt_version(project=project, purpose=PromptPurpose.SAMPLE)
    train_ids = list(
        Problem.objects.filter(project=project, subject=TRAIN_SUBJECT)
        .order_by("pk")
        .values_list("pk", flat=True)[: sizes.train_problems]
    )
    test_ids = list(
        Problem.objects.filter(project=project, subject=HELD_OUT_SUBJECT)
        .order_by("pk")
        .values_list("pk", flat=True)[: sizes.test_problems]
    )
    held_out = tuple(held_out_ids(project))

    def sample() -> tuple[list[Job], str]:
        job = finished(
            sample_job_start_for(run, generator, sample_prompt, train_ids, sizes.samples, {})
        )
        traces = Trace.objects.filter(job=job)
        return [job], f"{traces.count()} samples, {traces.filter(is_correct=True).count()} correct"

    (sample_job,) = stage("sample", sample)
    tag = f"(run {sample_job.pk})"  # the models' names, unique in the project

    def monte_carlo() -> tuple[list[Job], str]:
        chosen = list(
            Trace.objects.filter(job=sample_job).order_by("pk").values_list("pk", flat=True)
        )[: sizes.mc_traces]
        job = finished(
            monte_carlo_job_start(
                project=project,
                user=None,
                model=generator,
                prompt=sample_prompt,
                trace_ids=chosen,
                n=sizes.rollouts,
                sampling=dict(SAMPLING),
            )
        )
        return [job], f"{len(chosen)} samples' steps labelled by {sizes.rollouts} rollouts each"

    stage("monte_carlo", monte_carlo)

    def prm() -> tuple[list[Job], str]:
        export = finished(
            _export(
                project,
                format="trl-stepwise",
                grades="monte_carlo",
                soft_labels=True,
                jobs=(sample_job.pk,),
                held_out=held_out,
            )
        )
        job = finished(
            _train(
                "prm",
                export,
                generator,
                f"small-world PRM from Monte-Carlo labels {tag}",
                sizes,
                sizes.prm_epochs,
                head="math-shepherd",
            )
        )
        run.models["prm"] = job.trained_model.config
        return [export, job], f"{_rows(export)} labelled solutions"

    stage("prm", prm)

    def trees() -> tuple[list[Job], str]:
        job = finished(
            tree_job_start(
                project=project,
                user=None,
                params=tree_params(
                    model=generator,
                    scorer=run.models["prm"],
                    problem_ids=train_ids,
                    prompt=TREE_FORM_PROMPT,
                    width=sizes.tree_width,
                    keep=sizes.tree_keep,
                    max_depth=sizes.tree_depth,
                    sampling={"temperature": 1.0, "max_tokens": 24, "seed": sizes.seed},
                ),
            )
        )
        result = job.result or {}
        return [job], ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int))

    (tree_job,) = stage("trees", trees)

    def long_thoughts() -> tuple[list[Job], str]:
        job = finished(
            long_thought_job_start(
                project=project, user=None, tree_job=tree_job, k=2, seed=sizes.seed
            )
        )
        drafts = Trace.objects.filter(job=job, metadata__kind="draft")
        return [job], f"{drafts.count()} long thoughts"

    (thought_job,) = stage("long_thoughts", long_thoughts)

    # The same problems for both: those with a journey (a correct long thought with a trial);
    # every other problem of the project is kept out of both exports' train side.
    journeys = journey_problems(thought_job)
    if not journeys:
        raise StageFailed("no long thought has a trial: no journey to train on")
    kept_out = held_out + tuple(
        Problem.objects.filter(project=project)
        .exclude(pk__in=journeys)
        .exclude(subject=HELD_OUT_SUBJECT)
        .values_list("external_id", flat=True)
    )

    def sft(fmt: str, kinds: tuple[str, ...], name: str) -> Callable[[], tuple[list[Job], str]]:
        def work() -> tuple[list[Job], str]:
            export = finished(
                _export(project, format=fmt, tree_round=tree_job.pk, kinds=kinds, held_out=kept_out)
            )
            job = finished(_train("sft", export, chat_base, name, sizes, sizes.sft_epochs))
            return [export, job], f"{_rows(export)} rows on {_problems(export)} problems"

        return work

    *_, shortcut_job = stage(
        "sft_shortcut", sft("sft-shortcut", ("shortcut",), f"small-world SFT shortcut {tag}")
    )
    run.models["sft_shortcut"] = shortcut_job.trained_model.config
    *_, journey_job = stage(
        "sft_journey", sft("sft-journey", ("draft",), f"small-world SFT journey {tag}")
    )
    run.models["sft_journey"] = journey_job.trained_model.config

    def dpo() -> tuple[list[Job], str]:
        journey = run.models["sft_journey"]
        samples = finished(
            sample_job_start_for(
                run,
                journey,
                sample_prompt,
                train_ids[: sizes.dpo_problems],
                sizes.dpo_samples,
                {"temperature": 0.7, "top_p": 0.95, "max_tokens": sizes.max_tokens},
            )
        )
        export = finished(
            _export(
                project,
                format="dpo",
                jobs=(samples.pk,),
                pairs_per_problem=sizes.dpo_pairs,
                held_out=held_out,
            )
        )
        name = f"small-world SFT journey + DPO {tag}"
        job = finished(_train("dpo", export, journey, name, sizes, sizes.dpo_epochs))
        run.models["dpo"] = job.trained_model.config
        return [samples, export, job], f"{_rows(export)} pairs"

    stage("dpo", dpo)

    def evaluate() -> tuple[list[Job], str]:
        order = ("base", "base_chat", "sft_shortcut", "sft_journey", "dpo")
        job = finished(
            evaluation_job_start(
                project=project,
                user=None,
                models=[run.models[name] for name in order],
                prompt=sample_prompt,
                problem_ids=test_ids,
                k=sizes.eval_samples,
                sampling={
                    "temperature": sizes.eval_temperature,
                    "max_tokens": sizes.max_tokens,
                    "seed": sizes.seed,
                },
            )
        )
        run.evaluation = job
        return [job], f"{len(test_ids)} held-out problems x {sizes.eval_samples} samples"

    stage("evaluate", evaluate)
    return run


def sample_job_start_for(
    run: Experiment,
    model: ModelConfig,
    prompt: Any,
    problem_ids: list[int],
    n: int,
    sampling: dict[str, Any],
) -> Job:
    return sample_job_start(
        project=run.project,
        user=None,
        model=model,
        prompt=prompt,
        problem_ids=problem_ids,
        n=n,
        sampling={**SAMPLING, **sampling, "seed": run.sizes.seed},
    )


def journey_problems(thought_job: Job) -> list[int]:
    """The problems of the long-thought job with a correct long thought that made a trial."""
    drafts = Trace.objects.filter(
        job=thought_job, origin=Origin.LONG_THOUGHT, metadata__kind="draft", is_correct=True
    ).values_list("problem_id", "metadata")
    return sorted({pk for pk, meta in drafts if (trials_of(meta or {}) or 0) > 0})


def _import(run: Experiment) -> tuple[list[Job], str]:
    sizes = run.sizes
    report = small_world_import(
        project=run.project, train=sizes.train_problems, test=sizes.test_problems, seed=sizes.seed
    )
    return [], (
        f"{report.problems_created} new problems "
        f"({sizes.train_problems} training, {sizes.test_problems} held out, seed {sizes.seed})"
    )


def _configs(project: Project) -> tuple[ModelConfig, ModelConfig]:
    """The generator read as it was trained (no chat template), and read with its chat
    template (where SFT and DPO start)."""
    return (
        small_world_config(project, GENERATOR),
        small_world_config(project, CHAT_BASE, chat_template=True),
    )


def _export(project: Project, **options: Any) -> Job:
    return export_start(project=project, user=None, options=ExportOptions(**options))


def _rows(export: Job) -> int:
    train = (export.result or {}).get("manifest", {}).get("splits", {}).get("train") or {}
    return int(train.get("rows", 0))


def _problems(export: Job) -> int:
    train = (export.result or {}).get("manifest", {}).get("splits", {}).get("train") or {}
    return int(train.get("problems", 0))


def _train(
    method: str,
    export: Job,
    base: ModelConfig,
    name: str,
    sizes: Sizes,
    epochs: float,
    head: str | None = None,
) -> Job:
    """A training job of the experiment: its sizes' batch, seed and learning rate (DPO's own)."""
    hyperparameters = {
        "epochs": epochs,
        "learning_rate": sizes.dpo_learning_rate if method == "dpo" else sizes.learning_rate,
        "batch_size": sizes.batch_size,
        "gradient_accumulation": 1,
        "max_length": 512,
        "seed": sizes.seed,
        "logging_steps": 5,
        "save_steps": 1000,
    }
    return training_job_start(
        project=export.project,
        user=None,
        method=method,
        export=export,
        base=base,
        name=name,
        head=head,
        hyperparameters=hyperparameters,
    )


def check_sizes(sizes: Sizes) -> Sizes:
    for name, value in asdict(sizes).items():
        if value < 0 or (value == 0 and name != "seed"):
            raise ValidationError({name: f"{value} must be above 0"})
    return sizes
