from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation.core.access import (
    Ability,
    access_project,
    check_ability,
    member_roles,
    visible_projects,
)
from annotation.core.tokens import (
    TokenError,
    parse_days,
    token_create,
    token_revoke,
    tokens_of,
)
from annotation.problems.models import Trace


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = visible_projects(request.user).annotate(
        problem_count=Count("problems", distinct=True)
    )
    roles = member_roles(request.user)
    trace_counts = dict(
        Trace.objects.filter(problem__project__in=projects)
        .values_list("problem__project_id")
        .annotate(n=Count("id"))
        .values_list("problem__project_id", "n")
    )
    rows = []
    for project in projects:
        project.trace_count = trace_counts.get(project.pk, 0)  # type: ignore[attr-defined]
        rows.append({"project": project, "role": roles.get(project.pk, "admin")})
    return render(request, "core/home.html", {"rows": rows})


# Pages a project page links to, by the ability they need; other apps add theirs here.
PROJECT_LINKS: list[tuple[str, str, Ability]] = [
    ("Import data", "dataset-import", Ability.MANAGE),
    ("Export data", "dataset-export", Ability.MANAGE),
    ("Jobs", "job-list", Ability.RESEARCH),
    ("Models and LLM jobs", "llm-home", Ability.RESEARCH),
    ("Trees and long thoughts", "trees-home", Ability.RESEARCH),
    ("Annotate", "workspace-queue", Ability.ANNOTATE),
    ("Review", "review-list", Ability.REVIEW),
    ("Dashboard", "workspace-dashboard", Ability.MANAGE),
    ("Scorer evaluation", "evaluation-home", Ability.RESEARCH),
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
    return render(
        request,
        "core/project.html",
        {
            "project": project,
            "role": role or "admin",
            "links": links,
            "problem_count": project.problems.count(),
            "trace_count": Trace.objects.filter(problem__project=project).count(),
        },
    )


# API tokens -------------------------------------------------------------------------------


@login_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; POST makes one and shows its key once."""
    context: dict[str, object] = {"days": settings.STEPWISE_TOKEN_DAYS}
    status = 200
    if request.method == "POST":
        try:
            token, key = token_create(
                user=request.user,
                name=request.POST.get("name", "").strip(),
                days=parse_days(request.POST.get("days")),
            )
        except TokenError as error:
            context["error"] = str(error)
            status = 400
        else:
            context["new_token"], context["new_key"] = token, key
    context["tokens"] = tokens_of(request.user)
    return render(request, "core/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke_page(request: HttpRequest, token_id: int) -> HttpResponse:
    if not token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token")
    messages.success(request, "The token is revoked.")
    return redirect("account-tokens")
