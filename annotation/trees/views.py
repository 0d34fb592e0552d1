"""Researcher pages for trees and long thoughts: rounds, the tree view, long thoughts, filters,
two rounds side by side, statistics of outputs. Reads go through selectors, writes through
services; every page asks annotation.core.access first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core.access import Ability, access_project
from annotation.core.charts.bars import bar_chart
from annotation.core.form_errors import form_submitted
from annotation.core.models import Project
from annotation.jobs.access import access_job, access_job_of
from annotation.jobs.models import Job, JobKind
from annotation.jobs.views import render_job_page
from annotation.llm.defaults import is_demo_model
from annotation.llm.selectors import latest_version, problems_matching
from annotation.problems.access import access_problem, access_trace
from annotation.problems.models import Problem
from annotation.trees import services, steered
from annotation.trees.comparison_job import (
    comparison_params,
    comparison_query,
    stored_comparison,
)
from annotation.trees.forms import (
    FilterForm,
    LongThoughtJobForm,
    OutputFilterForm,
    PolicyCriticJobForm,
    SteeredJobForm,
    TreeJobForm,
)
from annotation.trees.selectors.keywords import parse_keywords
from annotation.trees.selectors.methods import STEERED_KINDS, TREE_KINDS
from annotation.trees.selectors.outputs import OutputFilter, outputs
from annotation.trees.selectors.rounds import (
    ProblemFilter,
    round_problems,
    thought_job_rows,
    tree_jobs,
    tree_summaries,
)
from annotation.trees.selectors.stats import method_stats, output_stats
from annotation.trees.selectors.thoughts import (
    actions_of,
    default_pair,
    long_thought_view,
    problem_long_thoughts,
    thought_label,
)
from annotation.trees.selectors.tree import node_detail, tree_payload


def _round(request: HttpRequest | Request, job_id: int) -> Job:
    return access_job_of(request.user, job_id, TREE_KINDS, "tree job", Ability.RESEARCH)


def _round_problem(
    request: HttpRequest | Request, job_id: int, problem_id: int
) -> tuple[Job, Problem]:
    job = _round(request, job_id)
    problem = Problem.objects.filter(pk=problem_id, project=job.project).first()
    if problem is None:
        raise Http404("No such problem")
    return job, problem


@login_required
def trees_home(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    return render(
        request,
        "trees/home.html",
        {
            "project": project,
            "rounds": tree_jobs(project)[:100],
            "thought_jobs": thought_job_rows(project),
        },
    )


@login_required
def start_tree(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = TreeJobForm(project, request.POST or None)

    def start() -> Job:
        data = form.cleaned_data
        return services.tree_job_start(
            project=project,
            user=request.user,
            params=services.tree_params(
                model=data["model"],
                scorer=data["scorer"],
                problem_ids=problems_matching(
                    project,
                    source=data["source"],
                    subject=data["subject"],
                    level=data["level"],
                    limit=data["limit"],
                ),
                **form.values(),
            ),
        )

    if (job := form_submitted(request, form, start)) is not None:
        return redirect("job", job.pk)
    context = {"project": project, "form": form, "title": "Build reasoning trees"}
    return render(request, "trees/start.html", context)


@login_required
def start_long_thought(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = LongThoughtJobForm(project, request.POST or None)

    def start() -> Job:
        data = form.cleaned_data
        return services.long_thought_job_start(
            project=project,
            user=request.user,
            tree_job=data["tree_job"],
            k=data["k"],
            k_meaning=data["k_meaning"],
            max_paths=data["max_paths"],
            seed=data["seed"],
            rewriter=data["rewriter"],
            rewrite_prompt=(
                latest_version(data["rewrite_prompt"]) if data["rewrite_prompt"] else None
            ),
            sampling=form.sampling(),
            chunk_size=data["chunk_size"],
        )

    if (job := form_submitted(request, form, start)) is not None:
        return redirect("job", job.pk)
    context = {"project": project, "form": form, "title": "Derive long thoughts"}
    return render(request, "trees/start.html", context)


def _steered_problems(project: Any, data: dict[str, Any]) -> list[int]:
    return problems_matching(
        project,
        source=data["source"],
        subject=data["subject"],
        level=data["level"],
        limit=data["limit"],
    )


def _steered_start_page(
    request: HttpRequest,
    project_id: int,
    form_class: type[SteeredJobForm],
    title: str,
    start: Callable[[Project, SteeredJobForm, dict[str, Any]], Job],
) -> HttpResponse:
    """The start page of a steered method: the form, then the job's page once started; a
    refusal by the service shows on its field."""
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = form_class(project, request.POST or None)
    job = form_submitted(request, form, lambda: start(project, form, form.cleaned_data))
    if job is not None:
        return redirect("job", job.pk)
    context = {"project": project, "form": form, "title": title}
    return render(request, "trees/start.html", context)


def _loop_limits(project: Project, form: SteeredJobForm, data: dict[str, Any]) -> dict[str, Any]:
    """What both steered methods take from their forms besides their models."""
    return {
        "problem_ids": _steered_problems(project, data),
        "max_steps": data["max_steps"],
        "max_backtracks": data["max_backtracks"],
        "max_tokens": data["max_tokens"],
        "sampling": form.sampling(),
        "chunk_size": data["chunk_size"],
    }


@login_required
def start_proposal_critique(request: HttpRequest, project_id: int) -> HttpResponse:
    return _steered_start_page(
        request,
        project_id,
        SteeredJobForm,
        "Proposal-critique loops",
        lambda project, form, data: steered.proposal_critique_job_start(
            project=project,
            user=request.user,
            model=data["model"],
            **_loop_limits(project, form, data),
        ),
    )


@login_required
def start_policy_critic(request: HttpRequest, project_id: int) -> HttpResponse:
    def start(project: Project, form: SteeredJobForm, data: dict[str, Any]) -> Job:
        assert isinstance(form, PolicyCriticJobForm)
        return steered.policy_critic_job_start(
            project=project,
            user=request.user,
            model=data["model"],
            critic=data["critic"],
            critic_sampling=form.critic_sampling(),
            **_loop_limits(project, form, data),
        )

    return _steered_start_page(
        request, project_id, PolicyCriticJobForm, "Policy-critic dialogues", start
    )


# What a job page shows once its job has ended, by kind (long-thought jobs: the default).
OUTPUTS_TEMPLATES = {
    JobKind.TREE.value: "trees/_round_outputs.html",
    **{kind: "trees/_steered_outputs.html" for kind in STEERED_KINDS},
}


@login_required
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """A tree job (its round's problems once built), a long-thought job (its outputs) or a
    steered job (its loops' trees and the long thoughts they wrote)."""
    job = access_job(request.user, job_id)
    if job.kind not in (JobKind.TREE, JobKind.LONG_THOUGHT, *STEERED_KINDS):
        return redirect("job", job.pk)

    def job_outputs() -> dict[str, Any]:
        if job.kind == JobKind.TREE:
            problems = round_problems(job, ProblemFilter())
            summaries = tree_summaries(job, problems)
            return {"rows": [summaries[p.pk] for p in problems if p.pk in summaries]}
        flt = OutputFilter(job_id=job.pk)
        return {"thoughts": outputs(job.project, flt)}

    return render_job_page(
        request,
        job,
        "trees/job.html",
        outputs_template=OUTPUTS_TEMPLATES.get(job.kind, "trees/_thought_outputs.html"),
        outputs=job_outputs,
        context={"demo_model": is_demo_model(job.model_version)},
    )


@login_required
def round_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _round(request, job_id)
    form = FilterForm(request.GET or None)
    problems = round_problems(job, form.problem_filter())
    summaries = tree_summaries(job, problems)
    return render(
        request,
        "trees/round.html",
        {
            "project": job.project,
            "job": job,
            "form": form,
            "rows": [summaries[p.pk] for p in problems if p.pk in summaries],
        },
    )


@login_required
def tree_page(request: HttpRequest, job_id: int, problem_id: int) -> HttpResponse:
    job, problem = _round_problem(request, job_id, problem_id)
    context = {"project": job.project, "job": job, "problem": problem}
    return render(request, "trees/tree.html", context)


@extend_schema(exclude=True)  # the tree page's own data, not part of the REST API
class TreeJson(APIView):
    """The tree page's nodes, read by its script (static/js/tree_view.js)."""

    def get(self, request: Request, job_id: int, problem_id: int) -> Response:
        job, problem = _round_problem(request, job_id, problem_id)
        return Response(tree_payload(job, problem))


@extend_schema(exclude=True)  # the tree page's own data, not part of the REST API
class NodeJson(APIView):
    """One node of the tree page: its text, scores and the judge's reason."""

    def get(self, request: Request, job_id: int, problem_id: int, index: int) -> Response:
        job, problem = _round_problem(request, job_id, problem_id)
        detail = node_detail(job, problem, index)
        if detail is None:
            raise Http404("No such node")
        return Response(detail)


@login_required
def thought_page(request: HttpRequest, trace_id: int) -> HttpResponse:
    trace = access_trace(request.user, trace_id, Ability.RESEARCH)
    view = long_thought_view(trace)
    keywords = parse_keywords(request.GET.get("keywords"))
    return render(
        request,
        "trees/thought.html",
        {
            "project": trace.problem.project,
            "view": view,
            "problem": trace.problem,
            "keywords": ",".join(keywords),
        },
    )


def _chosen_thought(request: HttpRequest, key: str, thoughts: list[Any]) -> Any:
    value = request.GET.get(key, "")
    by_id = {trace.pk: trace for trace in thoughts}
    return by_id.get(int(value)) if value.isdigit() else None


@login_required
def methods_page(request: HttpRequest, problem_id: int) -> HttpResponse:
    """Two long thoughts of one problem side by side (``?a=`` and ``?b=``: trace ids; by
    default the first of two methods), each with its method and actions."""
    problem = access_problem(request.user, problem_id, Ability.RESEARCH)
    thoughts = problem_long_thoughts(problem)
    default_a, default_b = default_pair(thoughts)
    chosen = [
        _chosen_thought(request, "a", thoughts) or default_a,
        _chosen_thought(request, "b", thoughts) or default_b,
    ]
    keywords = parse_keywords(request.GET.get("keywords"))
    sides = [
        {"view": long_thought_view(trace), "actions": actions_of(trace)}
        for trace in chosen
        if trace is not None
    ]
    return render(
        request,
        "trees/methods.html",
        {
            "project": problem.project,
            "problem": problem,
            "choices": [(trace, thought_label(trace)) for trace in thoughts],
            "sides": sides,
            "a": chosen[0].pk if chosen[0] is not None else None,
            "b": chosen[1].pk if chosen[1] is not None else None,
            "keywords": ",".join(keywords),
        },
    )


@login_required
def compare_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Two rounds side by side: the stored comparison of the chosen rounds and filter (a job
    computes it: annotation/trees/comparison_job.py), its age and a refresh."""
    project = access_project(request.user, project_id, Ability.RESEARCH)
    rounds = list(project.jobs.filter(kind=JobKind.TREE).order_by("-pk"))
    by_id = {job.pk: job for job in rounds}
    params = comparison_params(by_id, request.GET)
    stored = stored_comparison(project, params) if params is not None else None
    chosen = [by_id[pk] for pk in params.rounds()] if params else []
    return render(
        request,
        "trees/compare.html",
        {
            "project": project,
            "rounds": rounds,
            "chosen": chosen,
            "stored": stored,
            "rows": (stored.result or {}).get("rows", []) if stored else [],
            "query": comparison_query(request.GET),
            "form": FilterForm(request.GET or None),
            "a": chosen[0].pk if chosen else None,
            "b": chosen[1].pk if chosen else None,
        },
    )


@login_required
def outputs_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = OutputFilterForm(request.GET or None)
    keywords = parse_keywords(request.GET.get("keywords"))
    rows = outputs(project, form.output_filter())
    return render(
        request,
        "trees/outputs.html",
        {"project": project, "form": form, "rows": rows, "keywords": ",".join(keywords)},
    )


@login_required
def stats_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.RESEARCH)
    form = OutputFilterForm(request.GET or None)
    keywords = parse_keywords(request.GET.get("keywords"))
    stats = output_stats(project, form.output_filter(), keywords)
    labels = [f"level {s.level}" if s.level is not None else "no level" for s in stats]
    charts: list[dict[str, Any]] = [
        {
            "title": "Mean tokens per output",
            "svg": bar_chart(labels, [s.mean_tokens for s in stats], testid="chart-tokens"),
        },
        {
            "title": "Mean lines per output",
            "svg": bar_chart(labels, [s.mean_lines for s in stats], testid="chart-lines"),
        },
    ]
    for keyword in keywords:
        charts.append(
            {
                "title": f"“{keyword}” per output",
                "svg": bar_chart(
                    labels,
                    [s.keyword_rate(keyword) for s in stats],
                    testid=f"chart-kw-{slugify(keyword)}",
                ),
            }
        )
    return render(
        request,
        "trees/stats.html",
        {
            "project": project,
            "form": form,
            "stats": [(s, [s.keywords[k.lower()] for k in keywords]) for s in stats],
            "keywords": keywords,
            "charts": charts,
            "method_stats": method_stats(project, form.output_filter()),
        },
    )
