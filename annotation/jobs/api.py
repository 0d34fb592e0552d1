from django.db.models import Q, QuerySet
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.access import Ability, member_roles
from annotation.core.models import Role
from annotation.jobs.access import access_job
from annotation.jobs.models import Job, JobKind
from annotation.jobs.services import request_cancel


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


class JobViewSet(viewsets.ReadOnlyModelViewSet[Job]):
    serializer_class = JobSerializer
    filterset_fields = ["project", "kind", "status"]

    def get_queryset(self) -> QuerySet[Job]:
        user = self.request.user
        if user.is_superuser:
            return Job.objects.order_by("-id")
        # As access_job: admins see all of a project's jobs, researchers its model jobs, and
        # everyone the jobs they started.
        roles = member_roles(user)
        managed = [pid for pid, role in roles.items() if role == Role.ADMIN]
        researched = [pid for pid, role in roles.items() if role == Role.RESEARCHER]
        visible = (
            Q(project__in=managed)
            | (Q(project__in=researched) & ~Q(kind__in=[JobKind.IMPORT, JobKind.EXPORT]))
            | Q(created_by=user.pk)
        )
        return Job.objects.filter(visible).order_by("-id")

    def get_object(self) -> Job:
        return access_job(self.request.user, int(self.kwargs["pk"]))

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = access_job(request.user, int(pk), Ability.MANAGE)
        request_cancel(job)
        return Response(JobSerializer(job).data)
