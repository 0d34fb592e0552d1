"""Making and running projects: the "new project" page, a project's settings and members, and
the projects API. Above the apps (like pages.py): a project's settings include the machine
suggestions switch, whose changes the evaluation app logs.

Who may: site admins (superusers) make projects (`may_create_projects`); a project's admins
(Ability.MANAGE) change its settings and members; everyone else sees the projects they are in.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.access import (
    Ability,
    access_project,
    may_create_projects,
    visible_projects,
)
from annotation.core.api import ProjectSerializer
from annotation.core.form_errors import add_form_errors
from annotation.core.models import Project, Role
from annotation.core.services import PROJECT_FIELDS, member_remove, member_set, project_create
from annotation.core.services import project_update as core_project_update
from annotation.evaluation.services import machine_suggestions_set
from annotation.workspace.quality_forms import QUALITY_FIELDS, QualitySettingsForm
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.quality_settings import project_quality_update

# The settings page's sections, in order: (title, help, field names). Another app's settings
# are a section more: its fields come from its own form (screening and QC: the workspace's
# QualitySettingsForm, also on the Screening and QC page), which ProjectForm holds.
SETTINGS_SECTIONS: list[tuple[str, str, list[str]]] = [
    ("Project", "", ["name", "guidelines", "record_guidelines"]),
    (
        "Labelling",
        "How annotators grade: how many grade each trace, what they see, when a claim expires.",
        [
            "overlap",
            "stop_at_first_bad_step",
            "show_ground_truth",
            "show_machine_suggestions",
            "claim_timeout_minutes",
        ],
    ),
    (
        "Screening and quality control",
        "New annotators' screening, QC items among the work, the model that continues an "
        "annotator's path, and which model outputs reach the queue (also on the Screening and "
        "QC page, with the gold items).",
        list(QUALITY_FIELDS),
    ),
    (
        "Exports",
        "What the Export data page offers first.",
        ["export_test_fraction"],
    ),
]
SUGGESTIONS = "show_machine_suggestions"


# Writes ---------------------------------------------------------------------------------------


@transaction.atomic
def project_save(
    *,
    project: Project | None,
    user: Any,
    data: dict[str, Any],
    quality: dict[str, Any] | None = None,
) -> Project:
    """Create (project None) or change a project from settings; the suggestions switch goes
    through the evaluation app so that its change is logged, and the screening and QC settings
    (`quality`: QualitySettingsForm.settings()) through the workspace's service. A refused
    quality setting raises WorkspaceError naming its field, and nothing is saved."""
    fields = {name: data[name] for name in PROJECT_FIELDS if name in data}
    if project is None:
        saved = project_create(user=user, **fields)
    else:
        saved = core_project_update(project=project, **fields)
    if SUGGESTIONS in data:
        machine_suggestions_set(project=saved, shown=bool(data[SUGGESTIONS]), user=user)
    if quality is not None:
        saved = project_quality_update(project=saved, **quality)
    return saved


# Pages ----------------------------------------------------------------------------------------


def quality_error(error: WorkspaceError) -> tuple[str | None, str]:
    """The quality setting a refusal names ("qc_rate: ..."), and its message; (None, the
    whole text) when it names none."""
    name, _, message = str(error).partition(": ")
    return (name, message) if name in QUALITY_FIELDS else (None, str(error))


class ProjectForm(forms.ModelForm[Project]):
    """The project's own settings, and the other apps' sections through their forms."""

    class Meta:
        model = Project
        fields = [
            name
            for _, _, names in SETTINGS_SECTIONS
            for name in names
            if name not in QUALITY_FIELDS
        ]
        labels = {
            "guidelines": "Grading guidelines",
            "record_guidelines": "Thought-record guidelines",
            "overlap": "Annotators per item",
            "stop_at_first_bad_step": "Stop at the first bad step",
            "show_ground_truth": "Show annotators the ground-truth answer",
            "show_machine_suggestions": "Show machine scores to annotators as suggestions",
            "claim_timeout_minutes": "A claimed item returns to the queue after (minutes)",
            "export_test_fraction": "Test fraction of a new export",
        }
        help_texts = {
            "guidelines": "Markdown and math, shown beside the grading editor and on the "
            "project page.",
            "record_guidelines": "Markdown and math, shown beside the thought-record editor.",
            "stop_at_first_bad_step": "Steps after a -1 are not graded (PRM800K).",
            "show_machine_suggestions": "Off by default: a suggestion may anchor the annotator.",
        }
        widgets = {
            "guidelines": forms.Textarea(attrs={"rows": 6}),
            "record_guidelines": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["export_test_fraction"].required = False  # empty: the model's default
        self.quality = QualitySettingsForm(
            self.data if self.is_bound else None,
            project=self.instance if self.instance.pk else None,
        )

    def clean_export_test_fraction(self) -> float:
        value = self.cleaned_data.get("export_test_fraction")
        return 0.0 if value is None else float(value)

    def is_valid(self) -> bool:
        own = super().is_valid()
        return self.quality.is_valid() and own

    def field(self, name: str) -> forms.BoundField:
        return self.quality[name] if name in QUALITY_FIELDS else self[name]

    def sections(self) -> list[dict[str, Any]]:
        return [
            {"title": title, "help": help_text, "fields": [self.field(name) for name in names]}
            for title, help_text, names in SETTINGS_SECTIONS
        ]

    def save_for(self, *, project: Project | None, user: Any) -> Project:
        """Save both parts (project_save); a refused setting becomes that field's error."""
        try:
            return project_save(
                project=project,
                user=user,
                data=self.cleaned_data,
                quality=self.quality.settings(),
            )
        except WorkspaceError as error:
            name, message = quality_error(error)
            if name is not None:
                self.quality.add_error(name, message)
            else:
                self.add_error(None, message)
            raise

    @property
    def has_errors(self) -> bool:
        return self.is_bound and bool(self.errors or self.quality.errors)


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    if not may_create_projects(request.user):
        raise PermissionDenied("Only site admins make projects.")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = form.save_for(project=None, user=request.user)
        except DjangoValidationError as error:
            add_form_errors(form, error)
        except WorkspaceError:
            pass  # save_for put it on its field
        else:
            messages.success(request, f"Project {project.name} is ready: add its members.")
            return redirect("project-settings", project.pk)
    status_code = 400 if request.method == "POST" else 200
    return render(
        request,
        "core/project_settings.html",
        {"form": form, "project": None, "member_form": None},
        status=status_code,
    )


@login_required
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        try:
            form.save_for(project=project, user=request.user)
        except DjangoValidationError as error:
            add_form_errors(form, error)
        except WorkspaceError:
            pass  # save_for put it on its field
        else:
            messages.success(request, "Settings saved.")
            return redirect("project-settings", project.pk)
        project.refresh_from_db()
    return _settings_page(request, project, form=form, member_form=MemberForm())


def _settings_page(
    request: HttpRequest, project: Project, *, form: ProjectForm, member_form: MemberForm
) -> HttpResponse:
    bound = form.has_errors or member_form.is_bound
    return render(
        request,
        "core/project_settings.html",
        {
            "project": project,
            "form": form,
            "member_form": member_form,
            "members": project.memberships.select_related("user").order_by("user__username"),
            "roles": Role.choices,
        },
        status=400 if bound else 200,
    )


@login_required
@require_POST
def project_member_set(request: HttpRequest, project_id: int) -> HttpResponse:
    """Add a member with a role, or change a member's role."""
    project = access_project(request.user, project_id, Ability.MANAGE)
    member_form = MemberForm(request.POST)
    if member_form.is_valid():
        data = member_form.cleaned_data
        try:
            membership, created = member_set(
                project=project, username=data["username"], role=data["role"]
            )
        except DjangoValidationError as error:
            add_form_errors(member_form, error)
        else:
            verb = "is now a member as" if created else "is now"
            messages.success(request, f"{membership.user.get_username()} {verb} {data['role']}.")
            return redirect(reverse("project-settings", args=[project.pk]) + "#members")
    return _settings_page(
        request, project, form=ProjectForm(instance=project), member_form=member_form
    )


@login_required
@require_POST
def project_member_remove(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    try:
        removed = member_remove(project=project, user_id=user_id)
    except DjangoValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if removed:
            messages.success(request, "The member is removed.")
    return redirect(reverse("project-settings", args=[project.pk]) + "#members")


# API ------------------------------------------------------------------------------------------


class MemberSerializer(serializers.Serializer[Any]):
    user = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            "user": instance.user_id,
            "username": instance.user.get_username(),
            "role": instance.role,
        }


def _api_quality(project: Project | None, data: dict[str, Any]) -> dict[str, Any] | None:
    """The screening, QC, continuation and queue settings as project_quality_update takes
    them: the ones the body names over the project's current ones; None when it names none."""
    if "continuation_model_id" in data:  # the serializer's source name
        data["continuation_model"] = data.pop("continuation_model_id")
    given = {name: data.pop(name) for name in QUALITY_FIELDS if name in data}
    if not given:
        return None
    current = {
        "screening_threshold": project.screening_threshold if project else None,
        "qc_rate": project.qc_rate if project else 0.0,
        "continuation_model": project.continuation_model_id if project else None,
        "queue_job_outputs": project.queue_job_outputs if project else False,
    }
    return {**current, **given}


@transaction.atomic
def _api_save(project: Project | None, user: Any, data: dict[str, Any]) -> Project:
    """project_save for the API: a refused value is a 400 naming its field, and nothing of
    the request is saved."""
    quality = _api_quality(project, data)
    try:
        return project_save(project=project, user=user, data=data, quality=quality)
    except WorkspaceError as error:
        name, message = quality_error(error)
        raise ValidationError({name: [message]} if name is not None else [message]) from None


class ProjectViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet[Project],
):
    """Projects you are in (all, for site admins). Site admins make projects (POST); a
    project's admins change its settings (PATCH/PUT) and members (members/). Projects are
    not deleted through the API."""

    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return visible_projects(self.request.user).order_by("id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not may_create_projects(request.user):
            raise PermissionDenied("Only site admins make projects.")
        form = ProjectSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        project = _api_save(None, request.user, form.validated_data)
        return Response(self.get_serializer(project).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = access_project(request.user, int(kwargs["pk"]), Ability.MANAGE)
        form = ProjectSerializer(project, data=request.data, partial=kwargs.get("partial", False))
        form.is_valid(raise_exception=True)
        project = _api_save(project, request.user, form.validated_data)
        return Response(self.get_serializer(project).data)

    # GET answers a list (the schema said one member: schemathesis found it).
    @extend_schema(methods=["GET"], responses=MemberSerializer(many=True))
    @extend_schema(methods=["POST"], responses={200: MemberSerializer, 201: MemberSerializer})
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=MemberSerializer,
        pagination_class=None,
    )
    def members(self, request: Request, pk: str) -> Response:
        """GET: the members and their roles. POST {username, role}: add a member or change
        a member's role (201 when added). Project admins only."""
        project = access_project(request.user, int(pk), Ability.MANAGE)
        if request.method == "GET":
            rows = project.memberships.select_related("user").order_by("user__username")
            return Response(MemberSerializer(rows, many=True).data)
        form = MemberSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        membership, created = member_set(project=project, **form.validated_data)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(MemberSerializer(membership).data, status=code)

    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>[0-9]+)")
    def member(self, request: Request, pk: str, user_id: str) -> Response:
        """Take a member out of the project (a project keeps at least one admin)."""
        project = access_project(request.user, int(pk), Ability.MANAGE)
        removed = member_remove(project=project, user_id=int(user_id))
        if not removed:
            return Response({"detail": "Not a member."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
