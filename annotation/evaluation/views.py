"""Researcher pages: scorer comparison, calibration and best-of-N plots, Monte-Carlo labeling,
the human-AI queue."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation.core.access import Ability, access_project
from annotation.core.charts.lines import Series, line_plot
from annotation.core.form_errors import form_submitted
from annotation.evaluation import analyses, selectors, services
from annotation.evaluation.forms import BestOfNForm, MonteCarloJobForm
from annotation.jobs.access import access_job
from annotation.jobs.kinds import kind_of
from annotation.jobs.models import Job, JobKind
from annotation.jobs.views import render_job_page
from annotation.llm.selectors import latest_version, traces_matching
from annotation.trees.comparison_job import comparison_params, comparison_query


@login_required
def evaluation_home(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    stored = analyses.stored_analysis(project, JobKind.SCORER_COMPARISON)
    comparison = stored.result
    series = [
        Series(
            row["source"]["name"],
            [
                (b["mean_score"], b["positive_rate"])
                for b in row["calibration"]
                if b["mean_score"] is not None and b["positive_rate"] is not None
            ],
        )
        for row in (comparison or {}).get("sources", [])
    ]
    plot = line_plot(
        series,
        title="Calibration: mean score against the share of good steps, per score bin",
        x_label="mean score in the bin",
        y_label="share of steps the consensus calls good",
        x_range=(0.0, 1.0),
        x_ticks=(0, 0.25, 0.5, 0.75, 1),
        diagonal=True,
    )
    context = {
        "project": project,
        "stored": stored,
        "comparison": comparison,
        "calibration_plot": plot,
        "mc_jobs": selectors.monte_carlo_jobs(project),
    }
    return render(request, "evaluation/home.html", context)


@login_required
def best_of_n_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = BestOfNForm(project, request.GET or None)
    job = None
    if form.is_valid() and form.cleaned_data["job"]:
        job = access_job(request.user, form.cleaned_data["job"])
        if job.project_id != project.pk:
            form.add_error("job", f"job #{job.pk} belongs to another project")
            job = None
    params = analyses.BestOfNParams(sample_job=job.pk if job else None)
    stored = analyses.stored_analysis(project, JobKind.BEST_OF_N, params)
    if stored.result is None:
        context = {
            "project": project,
            "form": form,
            "stored": stored,
            "sample_job": params.sample_job,
        }
        return render(request, "evaluation/best_of_n.html", context)
    report = analyses.best_of_n_report(stored.result)
    series = [
        Series(
            name,
            [(n, acc) for n, acc in zip(report.ns, values, strict=True) if acc is not None],
            dashed=name in ("majority vote", "oracle"),
        )
        for name, values in report.series.items()
    ]
    plot = line_plot(
        series,
        title="Best-of-N accuracy as N grows",
        x_label="N (samples per problem)",
        y_label="accuracy",
        x_range=(1, max(report.ns[-1], 2)) if report.ns else (1, 2),
        x_ticks=report.ns,
        log_x=True,
    )
    rows = [
        {"name": name, "values": values, "reference": name in ("majority vote", "oracle")}
        for name, values in report.series.items()
    ]
    context = {
        "project": project,
        "form": form,
        "stored": stored,
        "sample_job": params.sample_job,
        "report": report,
        "rows": rows,
        "plot": plot,
        "token_plot": _token_plot(report),
    }
    return render(request, "evaluation/best_of_n.html", context)


def _token_plot(report: selectors.BestOfN) -> Any:
    """Accuracy against the generated tokens the first N samples cost per problem."""
    costs = [t for t in report.tokens if t]
    if not costs:
        return None
    series = [
        Series(
            name,
            [
                (cost, acc)
                for cost, acc in zip(report.tokens, values, strict=True)
                if cost and acc is not None
            ],
            dashed=name in ("majority vote", "oracle"),
        )
        for name, values in report.series.items()
    ]
    return line_plot(
        series,
        title="Best-of-N accuracy against generated tokens",
        x_label="generated tokens per problem",
        y_label="accuracy",
        x_range=(min(costs), max(max(costs), min(costs) * 2)),
        x_ticks=[round(c) for c in costs],
        log_x=True,
    )


@login_required
def monte_carlo_start(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = MonteCarloJobForm(project, request.POST or None)

    def start() -> Job:
        data = form.cleaned_data
        return services.monte_carlo_job_start(
            project=project,
            user=request.user,
            model=data["model"],
            prompt=latest_version(data["prompt"]),
            trace_ids=traces_matching(
                project, origin=data["origin"], job_id=data["from_job"], limit=data["limit"]
            ),
            n=data["n"],
            mode=data["mode"],
            sampling=form.sampling(),
            chunk_size=data["chunk_size"],
        )

    if (job := form_submitted(request, form, start)) is not None:
        return redirect("evaluation-rollouts", job.pk)
    return render(request, "evaluation/monte_carlo.html", {"project": project, "form": form})


@login_required
def rollouts_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = access_job(request.user, job_id)
    if job.kind != JobKind.MONTE_CARLO:
        return redirect("job", job.pk)
    return render_job_page(
        request,
        job,
        "evaluation/rollouts.html",
        outputs_template="evaluation/_rollouts.html",
        outputs=lambda: {"rollouts": selectors.job_rollouts(job)},
    )


@login_required
def queue_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    stored = analyses.stored_analysis(project, JobKind.DISAGREEMENT_QUEUE)
    result = stored.result or {}
    context = {
        "project": project,
        "stored": stored,
        "traces": result.get("traces", []),
        "agreement": result.get("agreement", {}),
    }
    return render(request, "evaluation/queue.html", context)


@login_required
@require_POST
def analysis_refresh(request: HttpRequest, project_id: int, kind: str) -> HttpResponse:
    """Queue a fresh whole-project analysis and go back to the page that shows it."""
    if kind not in analyses.ANALYSES:
        raise Http404(f"no analysis {kind!r}")
    project = access_project(request.user, project_id, kind_of(kind).ability)
    params = analyses.ANALYSES[JobKind(kind)]()
    back = reverse(ANALYSIS_PAGES[kind], args=[project.pk])
    if kind == JobKind.BEST_OF_N and request.POST.get("sample_job", "").isdigit():
        sample_job = access_job(request.user, int(request.POST["sample_job"]))
        if sample_job.project_id != project.pk:
            raise Http404("no such sampling job in this project")
        params = analyses.BestOfNParams(sample_job=sample_job.pk)
        back += f"?job={sample_job.pk}"
    if kind == JobKind.ROUND_COMPARISON:
        rounds = project.jobs.filter(kind=JobKind.TREE).in_bulk()
        compared = comparison_params(rounds, request.POST)
        if compared is None:
            raise Http404("no such rounds in this project")
        params = compared
        back += "?" + urlencode(comparison_query(request.POST))
    job = analyses.analysis_start(project=project, kind=kind, user=request.user, params=params)
    messages.success(request, f"The analysis runs as job #{job.pk}; this page shows it when done.")
    return redirect(back)


ANALYSIS_PAGES: dict[str, str] = {
    JobKind.SCORER_COMPARISON: "evaluation-home",
    JobKind.BEST_OF_N: "evaluation-best-of-n",
    JobKind.DISAGREEMENT_QUEUE: "evaluation-queue",
    JobKind.AGREEMENT: "workspace-dashboard",
    JobKind.ROUND_COMPARISON: "trees-compare",
}


@login_required
@require_POST
def suggestions_set(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    shown = request.POST.get("shown") == "on"
    services.machine_suggestions_set(project=project, shown=shown, user=request.user)
    messages.success(
        request, f"Machine suggestions are now {'shown to' if shown else 'hidden from'} annotators."
    )
    return redirect("evaluation-queue", project.pk)
