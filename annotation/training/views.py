"""Training pages: start runs and evaluations, watch a run's loss (and a GRPO run's rewards),
follow a model's lineage, read the results table, the samples behind each cell, and a policy's
samples before and after reinforcement learning."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from algorithms.choices import METHOD_LABELS
from annotation.core.access import Ability, access_project
from annotation.core.charts.lines import Series, line_plot, nice_ticks
from annotation.core.form_errors import form_submitted
from annotation.core.models import Project
from annotation.jobs.access import access_job_of, may_change_job
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import job_params
from annotation.jobs.services import job_cancel_request
from annotation.llm import selectors as llm_selectors
from annotation.llm.access import access_model_config
from annotation.llm.models import ModelConfig
from annotation.training import selectors, services
from annotation.training.forms import EvaluationForm, GRPOJobForm, TrainingJobForm
from annotation.training.models import TrainingLogEntry, in_words, settings_in_words
from annotation.training.params import EvaluationParams

METHODS = METHOD_LABELS  # the training methods' names in words, by method


@login_required
def training_home(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    context = {
        "project": project,
        "runs": selectors.training_jobs(project),
        "evaluations": selectors.evaluation_jobs(project),
        "models": ModelConfig.objects.filter(project=project).select_related("lineage"),
        "methods": METHODS,
    }
    return render(request, "training/home.html", context)


@login_required
def training_start(request: HttpRequest, project_id: int, method: str) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    if method not in METHODS:
        raise Http404("No such training method")
    if method == "grpo":
        return grpo_start(request, project)
    form = TrainingJobForm(project, method, request.POST or None)

    def start() -> Job:
        data = form.cleaned_data
        return services.training_job_start(
            project=project,
            user=request.user,
            method=method,
            export=Job.objects.get(pk=data["export"]),
            base=data["base"],
            name=data["name"],
            head=data.get("head"),
            hyperparameters=form.hyperparameters(),
        )

    if (job := form_submitted(request, form, start)) is not None:
        return redirect("training-job", job.pk)
    context = {"project": project, "form": form, "title": f"{METHODS[method]} training"}
    return render(request, "training/start.html", context)


def _chosen_problems(project: Project, data: dict[str, Any]) -> tuple[Job | None, list[int] | None]:
    """The export whose split a form chose, or else the problems its filter matches."""
    if data["export"]:
        return Job.objects.get(pk=data["export"]), None
    problem_ids = llm_selectors.problems_matching(
        project,
        source=data["source"],
        subject=data["subject"],
        level=data["level"],
        limit=data["limit"],
    )
    return None, problem_ids


def grpo_start(request: HttpRequest, project: Project) -> HttpResponse:
    form = GRPOJobForm(project, request.POST or None)

    def start() -> Job:
        data = form.cleaned_data
        export, problem_ids = _chosen_problems(project, data)
        return services.grpo_job_start(
            project=project,
            user=request.user,
            base=data["base"],
            name=data["name"],
            prompt=llm_selectors.latest_version(data["prompt"]),
            problem_ids=problem_ids,
            export=export,
            split=data["split"],
            reward=form.reward(),
            reward_model=data["reward_model"],
            hyperparameters=form.hyperparameters(),
        )

    if (job := form_submitted(request, form, start)) is not None:
        return redirect("training-job", job.pk)
    context = {"project": project, "form": form, "title": f"{METHODS['grpo']} training"}
    return render(request, "training/start.html", context)


@login_required
def evaluation_start(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = EvaluationForm(project, request.POST or None)

    def start() -> Job:
        data = form.cleaned_data
        export, problem_ids = _chosen_problems(project, data)
        return services.evaluation_job_start(
            project=project,
            user=request.user,
            models=list(data["models"]),
            prompt=llm_selectors.latest_version(data["prompt"]),
            problem_ids=problem_ids,
            export=export,
            k=data["n"],
            sampling=form.sampling(),
            chunk_size=data["chunk_size"],
        )

    if (job := form_submitted(request, form, start)) is not None:
        return redirect("training-results", job.pk)
    context = {"project": project, "form": form, "title": "Evaluate models"}
    return render(request, "training/start.html", context)


def _training_job(request: HttpRequest, job_id: int) -> Job:
    return access_job_of(request.user, job_id, selectors.TRAINING_KINDS, "training job")


def _run_context(request: HttpRequest, job: Job, step: int | None = None) -> dict[str, Any]:
    log = selectors.training_log(job)
    lineage = getattr(job, "trained_model", None)
    grpo = job.kind == JobKind.TRAIN_GRPO
    return {
        "job": job,
        "project": job.project,
        "log": log,
        "grpo": grpo,
        "eta": selectors.training_eta(job, log),
        "plots": _curves(log, GRPO_CURVES if grpo else CURVES),
        "model": lineage.config if lineage is not None else None,
        "rewarded": selectors.reward_samples(job, step) if grpo else None,
        # the run's hyperparameters by their names in words (learning rate, not learning_rate),
        # only those its method uses
        "hyperparameters": settings_in_words(
            job.params["method"], job.params.get("hyperparameters") or {}
        ),
        "reward": in_words(job.params.get("reward") or {}) if grpo else [],
        # in the refreshed part, so that a finished run loses its Cancel without a reload
        "may_cancel": may_change_job(request.user, job),
    }


@login_required
def training_job(request: HttpRequest, job_id: int) -> HttpResponse:
    """The run page; `?step=N` shows the rewards recorded at logging step N (GRPO)."""
    job = _training_job(request, job_id)
    step = request.GET.get("step", "")
    context = _run_context(request, job, int(step) if step.isdigit() else None)
    return render(request, "training/job.html", context)


@login_required
def training_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The part of the run page that htmx refreshes while the job runs."""
    return render(
        request, "training/_progress.html", _run_context(request, _training_job(request, job_id))
    )


@login_required
@require_POST
def training_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    kinds = (*selectors.TRAINING_KINDS, JobKind.EVALUATE)
    job = access_job_of(request.user, job_id, kinds, "training or evaluation job", Ability.MANAGE)
    job_cancel_request(job)
    return redirect(
        "training-job" if job.kind in selectors.TRAINING_KINDS else "training-results", job.pk
    )


# The plots of a run page: a title, the y axis, and the logged fields drawn as its series.
Curve = tuple[str, str, tuple[str, ...]]
CURVES: tuple[Curve, ...] = (
    ("Training loss", "loss", ("loss",)),
    ("Learning rate", "learning rate", ("learning_rate",)),
)
GRPO_CURVES: tuple[Curve, ...] = (
    (
        "Reward (mean over the step's completions)",
        "reward",
        ("reward", "reward_outcome", "reward_process"),
    ),
    ("Reward spread (standard deviation)", "reward std", ("reward_std",)),
    ("KL to the starting policy", "KL", ("kl",)),
    ("Completion length", "tokens", ("response_length",)),
    *CURVES,
)
SERIES_NAMES = {"reward_outcome": "answer check", "reward_process": "PRM"}


def _curves(log: list[TrainingLogEntry], curves: tuple[Curve, ...]) -> list[Any]:
    """One plot per curve over the logged steps (a curve with nothing logged is left out)."""
    plots = []
    last = max((e.step for e in log), default=1)
    for title, y_label, names in curves:
        series = [
            Series(SERIES_NAMES.get(name, name.replace("_", " ")), points)
            for name in names
            if (points := [(float(e.step), v) for e in log if (v := getattr(e, name)) is not None])
        ]
        if not series:
            continue
        values = [y for s in series for _, y in s.points]
        low, high = min(values), max(values)
        margin = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
        plots.append(
            line_plot(
                series,
                title=title,
                x_label="optimizer step",
                y_label=y_label,
                x_range=(0.0, float(max(last, 1))),
                x_ticks=nice_ticks(0.0, float(max(last, 1)), whole=True),
                y_range=(
                    min(low - margin, 0.0) if names == ("learning_rate",) else low - margin,
                    high + margin,
                ),
            )
        )
    return plots


@login_required
def lineage_page(request: HttpRequest, model_id: int) -> HttpResponse:
    config = access_model_config(request.user, model_id)
    context = {
        "project": config.project,
        "config": config,
        "ancestry": selectors.ancestry(config),
        "descendants": selectors.descendants(config),
        "rewarded": selectors.rewarded_by(config),
        "evaluations": selectors.evaluations_of(config),
    }
    return render(request, "training/lineage.html", context)


def _evaluation_job(request: HttpRequest, job_id: int) -> Job:
    return access_job_of(request.user, job_id, (JobKind.EVALUATE,), "evaluation job")


@login_required
def results_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _evaluation_job(request, job_id)
    context = {
        "job": job,
        "project": job.project,
        "table": selectors.results_table(job),
        "may_cancel": may_change_job(request.user, job),
    }
    return render(request, "training/results.html", context)


@login_required
def compare_page(request: HttpRequest, job_id: int, model_id: int) -> HttpResponse:
    """A model's samples beside those of the model it was trained from (its lineage's
    parent), or of `?before=ID`, in the same evaluation."""
    job = _evaluation_job(request, job_id)
    table = selectors.results_table(job)
    rows = {row.model_id: row for row in table.rows}
    after = rows.get(model_id)
    if after is None:
        raise Http404("The job did not evaluate this model")
    wanted = request.GET.get("before", "")
    before_id = int(wanted) if wanted.isdigit() else after.parent_id
    compared = None
    if before_id is not None and before_id in rows and before_id != model_id:
        compared = selectors.before_after(job, model_id, before_id)
    context = {
        "job": job,
        "project": job.project,
        "after": after,
        "compared": compared,
        "others": [row for row in table.rows if row.model_id not in (model_id, before_id)],
    }
    return render(request, "training/compare.html", context)


@login_required
def samples_page(request: HttpRequest, job_id: int, model_id: int) -> HttpResponse:
    job = _evaluation_job(request, job_id)
    models = {m.id: m.label for m in job_params(job, EvaluationParams).models}
    if model_id not in models:
        raise Http404("The job did not evaluate this model")
    context = {
        "job": job,
        "project": job.project,
        "label": models[model_id],
        "samples": selectors.model_samples(job, model_id),
    }
    return render(request, "training/samples.html", context)
