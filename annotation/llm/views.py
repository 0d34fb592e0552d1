"""Researcher pages: models, prompts, starting LLM jobs, watching them, browsing outputs."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.core.access import Ability, access_project
from annotation.core.form_errors import form_submitted
from annotation.core.models import Project
from annotation.jobs.access import access_job
from annotation.jobs.kinds import kind_of
from annotation.jobs.models import Job, JobKind
from annotation.jobs.services import job_cancel_request
from annotation.jobs.views import render_job_page
from annotation.llm import selectors, services
from annotation.llm.access import access_model_config, access_prompt_template
from annotation.llm.defaults import is_demo_model
from annotation.llm.forms import (
    ExpandJobForm,
    ModelConfigForm,
    PromptCreateForm,
    PromptEditForm,
    SampleJobForm,
    ScoreJobForm,
)
from annotation.llm.models import ModelConfig, PromptVersion

START_FORMS: dict[str, Any] = {
    JobKind.SAMPLE: SampleJobForm,
    JobKind.EXPAND: ExpandJobForm,
    JobKind.SCORE: ScoreJobForm,
}


@login_required
def llm_home(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    context = {
        "project": project,
        "models": selectors.model_configs(project),
        "prompts": selectors.prompt_templates(project),
        "jobs": selectors.llm_jobs(project)[:50],
    }
    return render(request, "llm/home.html", context)


@login_required
def model_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    return _model_form(request, project, None)


@login_required
def model_edit(request: HttpRequest, model_id: int) -> HttpResponse:
    config = access_model_config(request.user, model_id)
    return _model_form(request, config.project, config)


def _model_form(request: HttpRequest, project: Project, config: ModelConfig | None) -> HttpResponse:
    form = ModelConfigForm(request.POST or None, instance=config)

    def save() -> ModelConfig:
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        if config is None:
            return services.model_config_create(project=project, user=request.user, **fields)
        return services.model_config_update(config=config, user=request.user, **fields)

    if (saved := form_submitted(request, form, save)) is not None:
        messages.success(request, f"Saved {saved.label}.")
        return redirect("llm-home", project.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "llm/model_form.html",
        {"project": project, "form": form, "config": config},
        status=status,
    )


@login_required
def prompt_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = PromptCreateForm(request.POST or None)
    template = form_submitted(
        request,
        form,
        lambda: services.prompt_template_create(
            project=project, user=request.user, **form.cleaned_data
        ),
    )
    if template is not None:
        return redirect("llm-prompt", template.pk)
    return render(request, "llm/prompt_new.html", {"project": project, "form": form})


@login_required
def prompt_page(request: HttpRequest, prompt_id: int) -> HttpResponse:
    template = access_prompt_template(request.user, prompt_id)
    latest = selectors.latest_version(template)
    form = PromptEditForm(
        request.POST or None, initial={"text": latest.text, "base_number": latest.number}
    )

    def save() -> PromptVersion:
        try:
            return services.prompt_template_edit(
                template=template, user=request.user, **form.cleaned_data
            )
        except services.PromptConflict as error:  # shown at the top of the form
            raise ValidationError(str(error)) from None

    if (version := form_submitted(request, form, save)) is not None:
        messages.success(request, f"Saved {version.label}.")
        return redirect("llm-prompt", template.pk)
    versions = template.versions.select_related("created_by")
    context = {
        "project": template.project,
        "template": template,
        "form": form,
        "versions": versions,
    }
    return render(request, "llm/prompt.html", context)


@login_required
@require_POST
def prompts_install(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    added = services.prompt_templates_install_defaults(project=project, user=request.user)
    messages.success(request, f"Added {added} built-in prompts.")
    return redirect("llm-home", project.pk)


@login_required
def job_start(request: HttpRequest, project_id: int, kind: str) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    if kind not in START_FORMS:
        raise Http404("No such job kind")
    form = START_FORMS[kind](project, request.POST or None)
    job = form_submitted(
        request, form, lambda: _start(kind, project, request.user, form.cleaned_data, form)
    )
    if job is not None:
        return redirect("llm-job", job.pk)
    context = {"project": project, "form": form, "kind": kind, "kind_label": kind_of(kind).label}
    return render(request, "llm/start.html", context)


def _start(kind: str, project: Project, user: Any, data: dict[str, Any], form: Any) -> Job:
    if kind == JobKind.SCORE:
        return services.score_job_start(
            project=project,
            user=user,
            scorer=data["scorer"],
            trace_ids=selectors.traces_matching(
                project, origin=data["origin"], job_id=data["from_job"], limit=data["limit"]
            ),
            chunk_size=data["chunk_size"],
        )
    prompt: PromptVersion = selectors.latest_version(data["prompt"])
    common = {
        "project": project,
        "user": user,
        "model": data["model"],
        "prompt": prompt,
        "n": data["n"],
        "sampling": form.sampling(),
        "chunk_size": data["chunk_size"],
    }
    if kind == JobKind.SAMPLE:
        problem_ids = selectors.problems_matching(
            project,
            source=data["source"],
            subject=data["subject"],
            level=data["level"],
            limit=data["limit"],
        )
        return services.sample_job_start(problem_ids=problem_ids, preset=data["preset"], **common)
    if data["mode"] == "rationalize":
        problem_ids = selectors.problems_matching(
            project, source=data["source"], with_answer=True, limit=data["limit"]
        )
        return services.expand_job_start(
            mode="rationalize", problem_ids=problem_ids, scorer=data["scorer"], **common
        )
    trace_ids = selectors.traces_matching(
        project, origin=data["origin"], job_id=data["from_job"], limit=data["limit"]
    )
    return services.expand_job_start(
        mode="expand",
        trace_ids=trace_ids,
        scorer=data["scorer"],
        review=data["review"] or "not_rejected",
        **common,
    )


@login_required
def llm_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = access_job(request.user, job_id)
    if job.kind not in selectors.LLM_JOB_KINDS:
        return redirect("job", job.pk)

    def outputs() -> dict[str, Any]:
        if job.kind == JobKind.SCORE:
            return {"scored": selectors.scored_traces(job)}
        return {"outputs": selectors.job_outputs(job)}

    return render_job_page(
        request,
        job,
        "llm/job.html",
        outputs_template="llm/_outputs.html",
        outputs=outputs,
        context={"demo_model": is_demo_model(job.model_version)},
    )


@login_required
@require_POST
def llm_job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    # Own URL: the name "job-cancel" is also the jobs API router's cancel action.
    job = access_job(request.user, job_id, Ability.MANAGE)
    job_cancel_request(job)
    return redirect("llm-job", job.pk)
