from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core import bodies
from annotation.core.access import Ability, access_project, member_roles
from annotation.core.columns import TEXT_MAX_CHARS, max_length
from annotation.core.models import Project, Role
from annotation.jobs.access import access_job
from annotation.jobs.kinds import kinds
from annotation.jobs.models import Job
from annotation.jobs.params import params_class
from annotation.jobs.services import job_cancel_request, job_create


class JobSerializer(serializers.ModelSerializer[Job]):
    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "project",
            "status",
            "params",
            "done",
            "total",
            "error",
            "result",
            "model_version",
            "prompt_version",
            "cancel_requested",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


def job_started(
    request: Request,
    form_class: type[serializers.Serializer[None]],
    start: Callable[[Project, dict[str, Any]], Job],
) -> Response:
    """A start endpoint: validate the body, check the research role in its project, start the
    job with the rest of the fields (`start` resolves the objects they name), answer 202 with
    the job; a refusal by the service is a 400 naming its field (the exception handler)."""
    form = form_class(data=request.data)
    form.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(form.validated_data)
    project = access_project(request.user, data.pop("project"), Ability.RESEARCH)
    job = start(project, data)
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobStartSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    kind = serializers.CharField(max_length=max_length(Job, "kind"))
    params = serializers.DictField()

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        bodies.check_texts(params, "params", max_chars=TEXT_MAX_CHARS)
        return params


class JobViewSet(viewsets.ReadOnlyModelViewSet[Job]):
    serializer_class = JobSerializer
    filterset_fields = ["project", "kind", "status"]

    def get_queryset(self) -> QuerySet[Job]:
        if getattr(self, "swagger_fake_view", False):  # the schema is built with no user
            return Job.objects.none()
        user = self.request.user
        if user.is_superuser:
            return Job.objects.order_by("-id")
        # As access_job: admins see all of a project's jobs, researchers its model jobs, and
        # everyone the jobs they started.
        roles = member_roles(user)
        managed = [pid for pid, role in roles.items() if role == Role.ADMIN]
        researched = [pid for pid, role in roles.items() if role == Role.RESEARCHER]
        admins_only = [k.name for k in kinds().values() if k.ability == Ability.MANAGE]
        visible = (
            Q(project__in=managed)
            | (Q(project__in=researched) & ~Q(kind__in=admins_only))
            | Q(created_by=user.pk)
        )
        return Job.objects.filter(visible).order_by("-id")

    @extend_schema(request=JobStartSerializer, responses={202: JobSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        """Start a job of a kind whose row in the kinds table allows it (`api_start`) from its
        parameters as sent: {"project": id, "kind": name, "params": {...}}. Kinds with a start
        service of their own (model jobs, imports, exports) are started through it."""
        form = JobStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        kind = kinds().get(data["kind"])
        if kind is None or not kind.api_start:
            startable = ", ".join(sorted(k.name for k in kinds().values() if k.api_start))
            message = f"jobs of kind {data['kind']!r} are not started here"
            return Response(
                {"kind": [f"{message} (these are: {startable or 'none'})"]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        project = access_project(request.user, data["project"], kind.ability)
        params = params_class(kind.name).from_params(data["params"])
        job = job_create(project=project, kind=kind.name, params=params, created_by=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    def get_object(self) -> Job:
        return access_job(self.request.user, int(self.kwargs["pk"]))

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = access_job(request.user, int(pk), Ability.MANAGE)
        job_cancel_request(job)
        return Response(JobSerializer(job).data)
