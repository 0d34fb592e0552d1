"""Writes of the training app: starting training (SFT, DPO, PRM, GRPO) and evaluation jobs,
registering the model a run produced with its lineage, recording the loss curve.

What a job names (the export, the base model, the reward model, the models to evaluate, the
problems, the prompt) is declared in its parameters and checked against its project by
`job_create` (the project boundary); the export and the models are checked first here, before
anything of them is read. Evaluations keep training problems out: a problem on the train side
of an export that any evaluated model descends from, or one a GRPO run of its lineage
practised on, is never evaluated on.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any, Literal, cast

from django.core.exceptions import ValidationError
from django.db import transaction

from algorithms.choices import (
    LOCAL_BACKENDS,
    PRM_HEADS,
    SUPERVISED_METHODS,
    PRMHead,
    SupervisedMethod,
)
from algorithms.rewards import RewardError, RewardSpec
from algorithms.sampling import SamplingParams
from algorithms.training import HyperparameterError, Hyperparameters, grpo_problems_per_step
from annotation.core.models import Project
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import MANIFEST_NAME, code_version
from annotation.datasets.export.selection import Splitter
from annotation.jobs.boundary import check_in_project
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import (
    JOB,
    MODEL_CONFIG,
    PROBLEM,
    JobParams,
    ModelSnapshot,
    job_params,
)
from annotation.jobs.services import job_create
from annotation.llm.models import ModelConfig, PromptPurpose, PromptVersion
from annotation.llm.services import check_job_model, check_sampling, job_prompt, model_config_create
from annotation.problems.models import Problem
from annotation.training.models import ModelLineage, TrainingLogEntry
from annotation.training.params import (
    SPLITS,
    EvaluationParams,
    ExportInput,
    GRPOParams,
    HeldOutSet,
    ProblemSet,
    Split,
    TrainingParams,
)

TRAIN_KINDS = {
    "sft": JobKind.TRAIN_SFT,
    "dpo": JobKind.TRAIN_DPO,
    "prm": JobKind.TRAIN_PRM,
    "grpo": JobKind.TRAIN_GRPO,
}
METHOD_OF_KIND = {kind: method for method, kind in TRAIN_KINDS.items()}


# Training ------------------------------------------------------------------------------------


def check_export(export: Job, project: Project) -> ExportInput:
    """The train split of a finished export of the project in a format the method reads."""
    check_in_project(project, "export", JOB, [export.pk])  # before reading its files
    if export.kind != JobKind.EXPORT or export.status != JobStatus.SUCCEEDED:
        raise ValidationError({"export": f"job {export.pk} is not a finished export"})
    manifest = export.result["manifest"]  # its format is checked by TrainingParams
    train = manifest["splits"].get("train")  # omitted when no row fell in it
    if not train or not train["rows"]:
        raise ValidationError({"export": f"export {export.pk} has no training rows"})
    files = export.result.get("files") or {}
    try:
        with export.output_file.storage.open(files[MANIFEST_NAME], "rb") as handle:
            manifest_sha256 = hashlib.sha256(handle.read()).hexdigest()
    except (KeyError, FileNotFoundError):
        raise ValidationError(
            {"export": f"the files of export {export.pk} are gone from storage; export again"}
        ) from None
    test = manifest["splits"].get("test")
    return ExportInput(
        job=export.pk,
        format=manifest["format"],
        file=files[train["name"]],
        sha256=train["sha256"],
        rows=train["rows"],
        manifest_sha256=manifest_sha256,
        test_problems=test["problems"] if test else 0,
    )


def check_base_model(base: ModelConfig, project: Project, method: str, head: str | None) -> None:
    check_in_project(project, "base", MODEL_CONFIG, [base.pk])
    if base.kind not in LOCAL_BACKENDS:
        raise ValidationError(
            {"base": f"{base.name} is served by an endpoint; training needs a model directory"}
        )
    if method == "prm":  # the head itself is checked by TrainingParams
        if base.scorer_head not in ("", head):
            raise ValidationError(
                {
                    "base": f"{base.name} is a {base.scorer_head} scorer; a {head} PRM starts "
                    "from a generator or from a scorer with the same head"
                }
            )
    elif base.scorer_head:
        raise ValidationError({"base": f"{base.name} is a scorer; {method} trains a generator"})


def check_new_model_name(project: Project, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "give the new model a name of 1 to 100 characters"})
    if ModelConfig.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a model named {name!r} exists; choose another name"})
    return name


def check_hyperparameters(method: str, given: dict[str, Any]) -> Hyperparameters:
    try:
        return Hyperparameters.for_method(method, given)
    except HyperparameterError as error:
        raise ValidationError({error.field: error.message}) from None


@transaction.atomic
def training_job_start(
    *,
    project: Project,
    user: Any,
    method: str,
    export: Job,
    base: ModelConfig,
    name: str,
    hyperparameters: dict[str, Any] | None = None,
    head: str | None = None,
) -> Job:
    """Train `base` on the train split of `export` (SFT, DPO or PRM fine-tuning) on the gpu
    queue; the finished run registers a model config named `name` with its lineage."""
    if method not in SUPERVISED_METHODS:  # GRPO: grpo_job_start
        raise ValidationError(
            {"method": f"unknown method {method!r}; use {', '.join(SUPERVISED_METHODS)}"}
        )
    hp = check_hyperparameters(method, hyperparameters or {})
    check_base_model(base, project, method, head)
    params = TrainingParams(
        method=cast(SupervisedMethod, method),
        name=check_new_model_name(project, name),
        base=ModelSnapshot.of(base),
        export=check_export(export, project),
        hyperparameters=hp,
        head=cast(PRMHead, head) if method == "prm" else None,  # TrainingParams checks it
    )
    return job_create(
        project=project,
        kind=TRAIN_KINDS[method],
        params=params,
        created_by=user,
    )


def check_reward_model(model: ModelConfig, project: Project) -> None:
    """A PRM of the project that the GPU worker loads itself (transformers), once per job."""
    check_in_project(project, "reward_model", MODEL_CONFIG, [model.pk])
    if model.scorer_head not in PRM_HEADS:
        raise ValidationError(
            {"reward_model": f"{model.name} is not a PRM; choose a {' or '.join(PRM_HEADS)} scorer"}
        )
    if model.kind != "transformers":
        raise ValidationError(
            {
                "reward_model": f"{model.name} runs on {model.kind}; a reward model runs in the "
                "training process with transformers"
            }
        )


def check_reward(given: dict[str, Any]) -> RewardSpec:
    try:
        return RewardSpec.from_params(given)
    except RewardError as error:
        raise ValidationError({error.field: error.message}) from None


def grpo_problem_set(
    project: Project,
    *,
    problem_ids: Sequence[int] | None,
    export: Job | None,
    split: str,
    need_answers: bool,
) -> ProblemSet:
    """The chosen problems of the project, or one side of an export's split; without an
    answer a problem cannot be checked, so it is left out when the answer check rewards."""
    if export is not None:
        if split not in SPLITS:
            raise ValidationError({"split": f"unknown split {split!r}; use train or test"})
        chosen = export_split_problems(export, project, cast(Split, split))
    else:
        chosen = list(dict.fromkeys(problem_ids or []))
        check_in_project(project, "problem_ids", PROBLEM, chosen)
    kept = chosen
    if need_answers:
        answered = set(
            Problem.objects.filter(pk__in=chosen, project=project)
            .exclude(answer__isnull=True)
            .exclude(answer="")
            .values_list("pk", flat=True)
        )
        kept = [pk for pk in chosen if pk in answered]
    if chosen and not kept:
        raise ValidationError(
            {"problem_ids": f"none of the {len(chosen)} problems has an answer to check"}
        )
    return ProblemSet(
        problem_ids=tuple(kept),
        source="export" if export is not None else "project",
        export=export.pk if export is not None else None,
        split=cast(Split, split) if export is not None else None,
        without_answer=len(chosen) - len(kept),
    )


@transaction.atomic
def grpo_job_start(
    *,
    project: Project,
    user: Any,
    base: ModelConfig,
    name: str,
    prompt: PromptVersion,
    problem_ids: Sequence[int] | None = None,
    export: Job | None = None,
    split: str = "train",
    reward: dict[str, Any] | None = None,
    reward_model: ModelConfig | None = None,
    hyperparameters: dict[str, Any] | None = None,
) -> Job:
    """GRPO on the gpu queue: `base` (a base or SFT model) samples a group of completions per
    problem, each rewarded by the answer check and by `reward_model`'s step scores; the
    finished run registers the policy as `name`, with a lineage naming what rewarded it."""
    hp = check_hyperparameters("grpo", hyperparameters or {})
    spec = check_reward(reward or {})
    check_base_model(base, project, "grpo", None)
    if reward_model is not None:
        check_reward_model(reward_model, project)
    problems = grpo_problem_set(
        project,
        problem_ids=problem_ids,
        export=export,
        split=split,
        need_answers=spec.outcome_weight > 0,
    )
    per_step = grpo_problems_per_step(hp)
    if len(problems.problem_ids) < per_step:
        raise ValidationError(
            {
                "problem_ids": f"{len(problems.problem_ids)} problems, but a step trains on "
                f"{per_step} (batch_size x gradient_accumulation / group_size); choose more"
            }
        )
    params = GRPOParams(
        name=check_new_model_name(project, name),
        base=ModelSnapshot.of(base),
        problems=problems,
        prompt=job_prompt(prompt, PromptPurpose.SAMPLE),
        reward=spec,
        hyperparameters=hp,
        reward_model=ModelSnapshot.of(reward_model) if reward_model is not None else None,
    )
    return job_create(
        project=project,
        kind=JobKind.TRAIN_GRPO,
        params=params,
        created_by=user,
    )


@transaction.atomic
def trained_model_register(*, job: Job, path: str, data_sha256: str = "") -> ModelConfig:
    """The model config of a finished run, with its lineage; a second call for the same job
    (a run resumed after its worker died past this point) returns the first one. A GRPO run
    gives the sha256 of the problem file it trained on (`data_sha256`)."""
    existing = ModelLineage.objects.select_related("config").filter(job=job).first()
    if existing is not None:
        return existing.config
    params: JobParams = job_params(job)
    if isinstance(params, GRPOParams):
        return _register_policy(job, params, path, data_sha256)
    assert isinstance(params, TrainingParams)
    base = params.base
    prm = params.method == "prm"
    # An ordinary model config, under the operator's policy like any other (a local path);
    # it never runs code from its directory unless an admin allows it later.
    config = model_config_create(
        project=job.project,
        name=params.name,
        kind="transformers" if prm else base.kind,
        path_or_endpoint=path,
        dtype=base.dtype,
        max_length=base.max_length,
        default_sampling={} if prm else base.default_sampling,
        scorer_head=params.head or "",
        use_chat_template=base.use_chat_template,
        options={} if prm else base.options,
        trust_remote_code=False,
    )
    ModelLineage.objects.create(
        config=config,
        parent=ModelConfig.objects.filter(pk=base.id, project=job.project).first(),
        parent_label=base.label,
        method=params.method,
        job=job,
        export_job=Job.objects.filter(pk=params.export.job).first(),
        export_format=params.export.format,
        manifest_sha256=params.export.manifest_sha256,
        train_file_sha256=params.export.sha256,
        train_rows=params.export.rows,
        hyperparameters=params.hyperparameters.as_params(),
        code_version=code_version()[:64],
    )
    return config


def _register_policy(job: Job, params: GRPOParams, path: str, data_sha256: str) -> ModelConfig:
    """A GRPO policy: a generator like its base, with a lineage naming its reward model."""
    base, prm = params.base, params.reward_model
    config = model_config_create(
        project=job.project,
        name=params.name,
        kind=base.kind,
        path_or_endpoint=path,
        dtype=base.dtype,
        max_length=base.max_length,
        default_sampling=base.default_sampling,
        use_chat_template=base.use_chat_template,
        options=base.options,
        trust_remote_code=False,
    )
    problems = params.problems
    ModelLineage.objects.create(
        config=config,
        parent=ModelConfig.objects.filter(pk=base.id, project=job.project).first(),
        parent_label=base.label,
        method="grpo",
        job=job,
        export_job=Job.objects.filter(pk=problems.export, project=job.project).first()
        if problems.export is not None
        else None,
        export_format=f"problems ({problems.split} split)" if problems.split else "problems",
        train_file_sha256=data_sha256,
        train_rows=len(problems.problem_ids),
        hyperparameters=params.hyperparameters.as_params(),
        code_version=code_version()[:64],
        reward_model=ModelConfig.objects.filter(pk=prm.id, project=job.project).first()
        if prm is not None
        else None,
        reward_model_label=prm.label if prm is not None else "",
        reward={**params.reward.as_params(), "prompt": params.prompt.label},
        problem_ids=list(problems.problem_ids),
    )
    return config


def training_log_write(job: Job, entries: Sequence[TrainingLogEntry]) -> None:
    """Record logging steps; a step logged again (after a resume) replaces the earlier values."""
    for entry in entries:
        entry.job = job
    TrainingLogEntry.objects.bulk_create(
        entries,
        update_conflicts=True,
        unique_fields=["job", "step"],
        update_fields=[
            "loss",
            "learning_rate",
            "grad_norm",
            "epoch",
            "reward",
            "reward_std",
            "reward_outcome",
            "reward_process",
            "kl",
            "response_length",
            "reward_samples",
            "attempt_start_step",
            "attempt_seconds",
            "logged_at",
        ],
    )


def checkpoint_kept(job: Job, *, path: str, step: int) -> None:
    """Note on a cancelled run where its last checkpoint is (the job's result)."""
    Job.objects.filter(pk=job.pk).update(result={"checkpoint": path, "global_step": step})


# Evaluation ----------------------------------------------------------------------------------


def export_split_problems(export: Job, project: Project, split: Split = "test") -> list[int]:
    """The problems of the project on one side of an export's split."""
    check_in_project(project, "export", JOB, [export.pk])  # before reading its options
    if export.kind != JobKind.EXPORT:
        raise ValidationError({"export": f"job {export.pk} is not an export"})
    splitter = Splitter(ExportOptions.from_params(export.params))
    if split not in splitter.names:
        raise ValidationError(
            {
                "export": f"export {export.pk} has no {split} split, so nothing trained on it "
                "can be evaluated on it: make a new export on the Export data page with a test "
                "fraction above 0 (0.2 keeps a fifth of the problems out of train) or held-out "
                "problems, train on that export, and evaluate on its test split"
            }
        )
    problems = Problem.objects.filter(project=project).only("pk", "external_id", "text_digest")
    return [p.pk for p in problems.order_by("pk") if splitter.split_of(p) == split]


def ancestor_training(configs: Iterable[ModelConfig]) -> tuple[list[Job], set[int]]:
    """What any of the configs was trained on, directly or through its bases: the exports
    whose train split an SFT, DPO or PRM run read, and the problems a GRPO run practised on."""
    exports: dict[int, Job] = {}
    practised: set[int] = set()
    todo = [c.pk for c in configs]
    seen: set[int] = set()
    while todo:
        seen.update(todo)
        rows = ModelLineage.objects.filter(config_id__in=todo).select_related("export_job")
        todo = []
        for row in rows:
            if row.method == "grpo":
                practised.update(int(pk) for pk in row.problem_ids)
            elif row.export_job is not None:
                exports[row.export_job.pk] = row.export_job
            if row.parent_id is not None and row.parent_id not in seen:
                todo.append(row.parent_id)
    return list(exports.values()), practised


def training_problems(problem_ids: Sequence[int], exports: Iterable[Job]) -> set[int]:
    """The problems (of `problem_ids`) on the train side of any of the exports."""
    problems = list(
        Problem.objects.filter(pk__in=problem_ids).only(
            "pk", "project_id", "external_id", "text_digest"
        )
    )
    found: set[int] = set()
    for export in exports:
        splitter = Splitter(ExportOptions.from_params(export.params))
        found.update(
            p.pk
            for p in problems
            if p.project_id == export.project_id and splitter.split_of(p) == "train"
        )
    return found


def evaluation_sampling(given: dict[str, Any]) -> dict[str, Any]:
    """The same sampling for every model (no model's own defaults), so rows compare."""
    values = {k: v for k, v in given.items() if v is not None}
    check_sampling(values, field="sampling")
    return {k: v for k, v in asdict(SamplingParams(**values)).items() if k != "n"}


@transaction.atomic
def evaluation_job_start(
    *,
    project: Project,
    user: Any,
    models: Sequence[ModelConfig],
    prompt: PromptVersion,
    problem_ids: Sequence[int] | None = None,
    export: Job | None = None,
    k: int = 4,
    sampling: dict[str, Any] | None = None,
    chunk_size: int = 8,
) -> Job:
    """Sample k answers per problem from each model on one held-out set: the given problems of
    the project, or the test split of an export. Problems any model was trained on are left
    out (and counted)."""
    check_in_project(project, "models", MODEL_CONFIG, [m.pk for m in models])
    for model in models:
        check_job_model(model, scorer=False, field="models")
        if model.scorer_head:
            raise ValidationError({"models": f"{model.name} is a judge; choose generators"})
    held_out: Literal["project", "export"]
    if export is not None:
        chosen = export_split_problems(export, project, "test")
        held_out = "export"
    else:
        chosen = list(problem_ids or [])
        held_out = "project"
        check_in_project(project, "problem_ids", PROBLEM, chosen)
    exports, practised = ancestor_training(models)
    trained_on = training_problems(chosen, exports) | (practised & set(chosen))
    kept = [pid for pid in chosen if pid not in trained_on]
    if chosen and not kept:
        raise ValidationError(
            {
                "problem_ids": f"all {len(chosen)} problems are on the train side of an export "
                "these models were trained on; evaluate on its test split"
            }
        )
    params = EvaluationParams(
        models=tuple(ModelSnapshot.of(m) for m in models),
        problem_ids=tuple(kept),
        k=k,
        sampling=evaluation_sampling(sampling or {}),
        prompt=job_prompt(prompt, PromptPurpose.SAMPLE),
        held_out=HeldOutSet(
            source=held_out,
            export=export.pk if export is not None else None,
            excluded_training_problems=len(chosen) - len(kept),
        ),
        chunk_size=chunk_size,
    )
    return job_create(
        project=project,
        kind=JobKind.EVALUATE,
        params=params,
        created_by=user,
    )
