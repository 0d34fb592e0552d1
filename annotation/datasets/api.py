"""The dataset API: imports and exports start jobs (follow them at /api/jobs/ID/)."""

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.access import Ability, access_project
from annotation.core.params_fields import params_serializer
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.services import export_start
from annotation.datasets.importer import IMPORT_FORMATS
from annotation.datasets.services import import_start
from annotation.datasets.upload_checks import upload_problem
from annotation.jobs.api import JobSerializer
from annotation.jobs.models import Job


class ImportSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    format = serializers.ChoiceField(choices=sorted(IMPORT_FORMATS))
    file = serializers.FileField()
    skip_invalid = serializers.BooleanField(default=False)

    def validate_file(self, upload: UploadedFile) -> UploadedFile:
        if problem := upload_problem(upload):
            raise serializers.ValidationError(problem)
        return upload


ExportSerializer = params_serializer(
    "ExportSerializer",
    ExportOptions,
    exclude={"extra"},
    doc="The project, then every export option (ExportOptions, which checks them).",
    project=serializers.IntegerField(),
)


class ImportViewSet(viewsets.ViewSet):
    """Upload a dataset file; the import runs as a job (follow it at /api/jobs/ID/)."""

    @extend_schema(request=ImportSerializer, responses={202: JobSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        form = ImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        project = access_project(request.user, data["project"], Ability.MANAGE)
        job = import_start(
            project=project,
            user=request.user,
            format_name=data["format"],
            upload=data["file"],
            name=data["file"].name,
            skip_invalid=data["skip_invalid"],
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet[Job]):
    """Start an export job (follow it at /api/jobs/ID/; result.manifest and result.files)."""

    serializer_class = ExportSerializer  # type: ignore[assignment]

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        form = ExportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        project = access_project(request.user, data.pop("project"), Ability.MANAGE)
        # A refused option, or a run of another project: a 400 naming the option
        # (annotation/core/api_errors.py).
        options = ExportOptions.from_params(data)
        job = export_start(project=project, user=request.user, options=options)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
