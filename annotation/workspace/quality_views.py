"""Pages and JSON endpoints of quality control: the project's quality settings, its screening
and QC items, an annotator's standing, and sending model outputs to the queue."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core import bodies
from annotation.core.access import Ability, abilities, access_project
from annotation.core.bodies import BODY, BodyError
from annotation.core.models import Membership, Project
from annotation.jobs.access import access_job
from annotation.workspace.models import GoldItem, GoldKind
from annotation.workspace.quality_forms import QualitySettingsForm
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.gold import gold_mark_many, gold_unmark
from annotation.workspace.services.quality_settings import project_quality_update
from annotation.workspace.services.queue import traces_send
from annotation.workspace.services.standing import standing_set

MAX_IDS_TEXT = 1_000_000  # characters of a pasted list of trace ids


def ids_from_text(text: str, field: str = "trace_ids") -> list[int]:
    """Trace ids separated by spaces, commas or lines; '#' starts a comment."""
    ids = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if not token:
                continue
            if not token.isdigit():
                raise WorkspaceError(f"{field}: line {number}: {token!r} is not a trace id.")
            ids.append(int(token))
    return ids


def _gold_items(project: Project) -> list[GoldItem]:
    return list(
        GoldItem.objects.filter(trace__problem__project=project)
        .select_related("source", "trace")
        .order_by("kind", "trace_id")
    )


@login_required
def quality_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """The quality settings and gold items: reviewers read them, admins change them."""
    project = access_project(request.user, project_id, Ability.REVIEW)
    may_manage = Ability.MANAGE in abilities(request.user, project)
    form = QualitySettingsForm(project=project)
    if not may_manage:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "workspace/quality.html",
        {
            "project": project,
            "gold": _gold_items(project),
            "gold_kinds": GoldKind.choices,
            "form": form,
            "may_manage": may_manage,
        },
    )


@login_required
@require_POST
def quality_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    form = QualitySettingsForm(request.POST, project=project)
    if not form.is_valid():
        for field, texts in form.errors.items():
            messages.error(request, f"{field}: {' '.join(map(str, texts))}")
        return redirect("workspace-quality", project.pk)
    try:
        project_quality_update(project=project, **form.settings())
    except WorkspaceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Quality settings saved.")
    return redirect("workspace-quality", project.pk)


@login_required
@require_POST
def gold_form(request: HttpRequest, project_id: int) -> HttpResponse:
    """Marks (or, with action=unmark, unmarks) the pasted trace ids."""
    project = access_project(request.user, project_id, Ability.MANAGE)
    try:
        text = bodies.text(request.POST.get("trace_ids", ""), "trace_ids", max_chars=MAX_IDS_TEXT)
        ids = ids_from_text(text)
        if request.POST.get("action") == "unmark":
            done = gold_unmark(project=project, trace_ids=ids)
            messages.success(request, f"{done} trace(s) are no longer gold items.")
        else:
            marked = gold_mark_many(
                project=project,
                trace_ids=ids,
                kind=request.POST.get("kind", GoldKind.QC),
                source_name=request.POST.get("source", "").strip() or None,
                by=request.user,
            )
            messages.success(request, f"{len(marked)} trace(s) marked as gold items.")
    except (BodyError, WorkspaceError) as error:
        messages.error(request, str(error))
    return redirect("workspace-quality", project.pk)


def _member(project: Project, user_id: int) -> Any:
    if not Membership.objects.filter(project=project, user_id=user_id).exists():
        raise Http404("No such member")
    return get_user_model().objects.get(pk=user_id)


@login_required
@require_POST
def standing_form(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    member = _member(project, user_id)
    try:
        standing_set(
            project=project, user=member, status=request.POST.get("status", ""), by=request.user
        )
    except WorkspaceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{member.username} is {request.POST['status']}.")
    return redirect("workspace-dashboard", project.pk)


@login_required
@require_POST
def send_job_outputs(request: HttpRequest, job_id: int) -> HttpResponse:
    """A researcher sends a job's outputs (all, or the correct or incorrect ones) to the queue."""
    job = access_job(request.user, job_id, Ability.RESEARCH)
    correct = {"correct": True, "incorrect": False}.get(request.POST.get("which", "all"))
    try:
        sent = traces_send(project=job.project, user=request.user, job=job, correct=correct)
    except WorkspaceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{sent} output(s) sent to the annotators' queue.")
    return redirect("llm-job", job.pk)


# JSON ---------------------------------------------------------------------------------------


def _ids(body: dict[str, Any], name: str = "trace_ids") -> list[int]:
    value = body.get(name)
    if not isinstance(value, list) or not all(type(v) is int and v > 0 for v in value):
        raise BodyError(name, "expected a list of trace ids")
    return value


def _object(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise BodyError(BODY, "must be a JSON object")
    return request.data


class GoldApi(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project_id: int) -> Response:
        """The project's gold items."""
        project = access_project(request.user, project_id, Ability.MANAGE)
        items = [
            {"trace": g.trace_id, "kind": g.kind, "source": g.source.name}
            for g in _gold_items(project)
        ]
        return Response({"gold": items})

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project_id: int) -> Response:
        """`{"trace_ids": [...], "kind": "qc"|"screening", "source": name?}`: marks them (all
        or none)."""
        project = access_project(request.user, project_id, Ability.MANAGE)
        body = _object(request)
        source = body.get("source")
        if source is not None:
            source = bodies.text(source, "source", max_chars=255)
        marked = gold_mark_many(
            project=project,
            trace_ids=_ids(body),
            kind=bodies.text(body.get("kind", GoldKind.QC), "kind", max_chars=20),
            source_name=source,
            by=request.user,
        )
        return Response({"marked": [g.trace_id for g in marked]}, status=201)

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def delete(self, request: Request, project_id: int) -> Response:
        """`{"trace_ids": [...]}`: unmarks them."""
        project = access_project(request.user, project_id, Ability.MANAGE)
        body = _object(request)
        return Response({"unmarked": gold_unmark(project=project, trace_ids=_ids(body))})


class StandingApi(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project_id: int, user_id: int) -> Response:
        """`{"status": "active"|"paused"}`."""
        project = access_project(request.user, project_id, Ability.MANAGE)
        body = _object(request)
        standing = standing_set(
            project=project,
            user=_member(project, user_id),
            status=bodies.text(body.get("status", ""), "status", max_chars=20),
            by=request.user,
        )
        return Response({"user": user_id, "status": standing.status})


class QueueApi(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project_id: int) -> Response:
        """`{"job": id?, "trace_ids": [...]?, "correct": true|false|null}`: sends those model
        outputs to the annotators' queue."""
        project = access_project(request.user, project_id, Ability.RESEARCH)
        body = _object(request)
        return Response({"sent": _send(request, project, body)})


def _send(request: Request, project: Project, body: dict[str, Any]) -> int:
    job = None
    if body.get("job") is not None:
        if type(body["job"]) is not int:
            raise BodyError("job", "expected a job id")
        job = access_job(request.user, body["job"], Ability.RESEARCH)
    correct = body.get("correct")
    if correct not in (None, True, False):
        raise BodyError("correct", "expected true, false or null")
    ids = _ids(body) if body.get("trace_ids") is not None else None
    return traces_send(project=project, user=request.user, job=job, trace_ids=ids, correct=correct)
