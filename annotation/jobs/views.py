from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.core.access import Ability, access_project
from annotation.jobs.access import access_job, may_change_job
from annotation.jobs.services import request_cancel


@login_required
def job_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    jobs = project.jobs.select_related("created_by")[:200]
    return render(request, "jobs/list.html", {"project": project, "jobs": jobs})


@login_required
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = access_job(request.user, job_id)
    may_cancel = may_change_job(request.user, job)
    return render(request, "jobs/job.html", {"job": job, "may_cancel": may_cancel})


@login_required
def job_status(request: HttpRequest, job_id: int) -> HttpResponse:
    job = access_job(request.user, job_id)
    return render(request, "jobs/_status.html", {"job": job})


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = access_job(request.user, job_id, Ability.MANAGE)
    request_cancel(job)
    return redirect("job", job.pk)


@login_required
def job_download(request: HttpRequest, job_id: int) -> FileResponse:
    job = access_job(request.user, job_id)
    if not job.output_file:
        raise Http404("This job has no file")
    return FileResponse(job.output_file.open("rb"), as_attachment=True)
