"""The home page and a project's page: they gather every app's work, so they sit above the
apps (core imports none of them)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from annotation.core.access import (
    Ability,
    access_project,
    check_ability,
    may_create_projects,
    member_roles,
    visible_projects,
)
from annotation.problems.selectors import project_sizes


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = list(visible_projects(request.user))
    roles = member_roles(request.user)
    sizes = project_sizes(p.pk for p in projects)  # kept counts: no project is counted
    rows = []
    for project in projects:
        project.problem_count = sizes[project.pk].problems  # type: ignore[attr-defined]
        project.trace_count = sizes[project.pk].traces  # type: ignore[attr-defined]
        rows.append({"project": project, "role": roles.get(project.pk, "admin")})
    return render(
        request,
        "core/home.html",
        {"rows": rows, "may_create": may_create_projects(request.user)},
    )


# Pages a project page links to, by the ability they need; other apps add theirs here.
PROJECT_LINKS: list[tuple[str, str, Ability]] = [
    ("Import data", "dataset-import", Ability.MANAGE),
    ("Export data", "dataset-export", Ability.MANAGE),
    ("Jobs", "job-list", Ability.RESEARCH),
    ("Models and LLM jobs", "llm-home", Ability.RESEARCH),
    ("Trees and long thoughts", "trees-home", Ability.RESEARCH),
    ("Annotate", "workspace-queue", Ability.ANNOTATE),
    ("Review", "review-list", Ability.REVIEW),
    ("Dashboard", "workspace-dashboard", Ability.REVIEW),  # read-only but for admins
    ("Screening and QC", "workspace-quality", Ability.REVIEW),
    ("Scorer evaluation", "evaluation-home", Ability.RESEARCH),
    ("Training and results", "training-home", Ability.RESEARCH),
    ("Settings and members", "project-settings", Ability.MANAGE),
]


@login_required
def project_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id)
    granted = check_ability(request.user, project, Ability.VIEW)
    links = [
        {"label": label, "url": reverse(name, args=[project.pk])}
        for label, name, need in PROJECT_LINKS
        if need in granted
    ]
    role = member_roles(request.user).get(project.pk)
    size = project_sizes([project.pk])[project.pk]  # kept counts: the project is not counted
    return render(
        request,
        "core/project.html",
        {
            "project": project,
            "role": role or "admin",
            "links": links,
            "problem_count": size.problems,
            "trace_count": size.traces,
        },
    )


# API tokens -------------------------------------------------------------------------------
