from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation.core.access import Ability, access_project
from annotation.jobs.access import access_job, may_change_job
from annotation.jobs.kinds import kind_of
from annotation.jobs.models import Job
from annotation.jobs.results import CHUNK_COLUMNS, chunk_rows, result_rows
from annotation.jobs.services import job_cancel_request


def job_page_url(job: Job) -> str:
    """The page of the job's kind (a URL name in its row of the kinds table: this app imports
    none of the other apps' views)."""
    return reverse(kind_of(job.kind).page, args=[job.pk])


def render_job_page(
    request: HttpRequest,
    job: Job,
    template: str,
    *,
    outputs_template: str = "",
    outputs: Callable[[], dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """A job's page, live until the job ends: `jobs/_live.html` polls the page itself every
    second (htmx asks for the live part only), so status, phase and progress update without
    a reload; once the job has ended the live part stops polling, Cancel is gone, and the
    result table and `outputs_template` (with what `outputs()` gives) are shown."""
    page: dict[str, Any] = {
        "job": job,
        "project": job.project,
        "may_cancel": may_change_job(request.user, job),
        "cancel_url": reverse("job-cancel", args=[job.pk]),
        **(context or {}),
    }
    if job.is_finished:
        page.update(
            result_rows=result_rows(job.result),
            chunk_columns=[label for _, label in CHUNK_COLUMNS],
            chunk_rows=chunk_rows(job.result),
            outputs_template=outputs_template,
            **(outputs() if outputs is not None else {}),
        )
    if request.headers.get("HX-Request") == "true":
        return render(request, "jobs/_live.html", page)
    return render(request, template, page)


@login_required
def job_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    jobs = project.jobs.select_related("created_by")[:200]
    return render(request, "jobs/list.html", {"project": project, "jobs": jobs})


@login_required
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """Jobs of a kind with a page of its own go there; the others (imports) are shown here."""
    job = access_job(request.user, job_id)
    if kind_of(job.kind).page != "job":
        return redirect(job_page_url(job))
    return render_job_page(request, job, "jobs/job.html")


@login_required
def job_status(request: HttpRequest, job_id: int) -> HttpResponse:
    job = access_job(request.user, job_id)
    return render(request, "jobs/_status.html", {"job": job})


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = access_job(request.user, job_id, Ability.MANAGE)
    job_cancel_request(job)
    return redirect(job_page_url(job))


@login_required
def job_download(request: HttpRequest, job_id: int) -> FileResponse:
    job = access_job(request.user, job_id)
    if not job.output_file:
        raise Http404("This job has no file")
    return FileResponse(job.output_file.open("rb"), as_attachment=True)
