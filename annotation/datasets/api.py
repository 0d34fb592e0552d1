"""The dataset API: imports and exports start jobs (follow them at /api/jobs/ID/)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.access import Ability, access_project
from annotation.core.columns import TEXT_MAX_CHARS, USERNAME_MAX_CHARS, max_length
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.options import (
    FILE_FORMATS,
    GRADE_CHOICES,
    TRACE_KINDS,
    ExportOptionError,
    ExportOptions,
)
from annotation.datasets.export.services import start_export
from annotation.datasets.importer import IMPORT_FORMATS
from annotation.datasets.services import start_import
from annotation.datasets.upload_checks import upload_problem
from annotation.jobs.api import JobSerializer
from annotation.jobs.models import Job
from annotation.jobs.params import REVIEW_FILTERS
from annotation.problems.models import Trace


class ImportSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    format = serializers.ChoiceField(choices=sorted(IMPORT_FORMATS))
    file = serializers.FileField()
    skip_invalid = serializers.BooleanField(default=False)

    def validate_file(self, upload: UploadedFile) -> UploadedFile:
        if problem := upload_problem(upload):
            raise serializers.ValidationError(problem)
        return upload


class ExportSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    format = serializers.ChoiceField(choices=sorted(EXPORT_FORMATS))
    file_format = serializers.ChoiceField(choices=FILE_FORMATS, default="jsonl")
    zero_is = serializers.ChoiceField(choices=["good", "bad"], default="good")
    grades = serializers.ChoiceField(choices=GRADE_CHOICES, default="trace")
    annotator = serializers.CharField(
        required=False, allow_null=True, default=None, max_length=USERNAME_MAX_CHARS
    )
    run = serializers.IntegerField(required=False, allow_null=True, default=None)
    score_threshold = serializers.FloatField(default=0.5)
    min_agreement = serializers.FloatField(default=0.0)
    origins = serializers.ListField(
        child=serializers.CharField(max_length=max_length(Trace, "origin")),
        required=False,
        default=None,
    )
    after_error = serializers.ChoiceField(
        choices=["drop", "keep"], required=False, allow_null=True, default=None
    )
    test_fraction = serializers.FloatField(default=0.0)
    seed = serializers.IntegerField(default=0)
    held_out = serializers.ListField(
        child=serializers.CharField(max_length=TEXT_MAX_CHARS), default=list
    )
    dedupe = serializers.BooleanField(default=False)
    pairs_per_problem = serializers.IntegerField(default=5)
    jobs = serializers.ListField(
        child=serializers.IntegerField(), default=list, help_text="Only traces of these jobs."
    )
    tree_round = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Only traces derived from this tree job (shortcuts, drafts, rewrites).",
    )
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=list(TRACE_KINDS)),
        default=list,
        help_text="Only these kinds: shortcut, draft, rewrite, expansion, rationalization.",
    )
    include_unfaithful = serializers.BooleanField(
        default=False, help_text="sft-journey: keep rewrites that failed their fidelity check."
    )
    include_no_trial = serializers.BooleanField(
        default=False, help_text="sft-journey: keep long thoughts that make no trial."
    )
    include_unverified = serializers.BooleanField(
        default=False,
        help_text="sft-journey: keep loops that ended without a verified correct answer.",
    )
    one_per_problem = serializers.BooleanField(
        default=False,
        help_text="sft-shortcut, sft-paired: one correct solution (pair) per problem.",
    )
    exclude_unanswered = serializers.BooleanField(
        default=False, help_text="dpo: leave unanswered samples out (default: rejected responses)."
    )
    soft_labels = serializers.BooleanField(
        default=False,
        help_text="trl-stepwise, math-shepherd: float labels (Monte-Carlo scores).",
    )
    review = serializers.ChoiceField(choices=REVIEW_FILTERS, default="not_rejected")
    keep_unlabeled = serializers.BooleanField(
        default=False, help_text="prm800k: also write traces nobody rated."
    )
    chosen_path_only = serializers.BooleanField(
        default=False,
        help_text="stepwise formats: the chosen path only, no row per rated alternative.",
    )
    keep_gold_items = serializers.BooleanField(
        default=False,
        help_text="step-label formats: also the labels of gold items (quality control, screening).",
    )
    keep_failed_screening = serializers.BooleanField(
        default=False,
        help_text="step-label formats: also the labels of people who failed screening.",
    )


class ImportViewSet(viewsets.ViewSet):
    """Upload a dataset file; the import runs as a job (follow it at /api/jobs/ID/)."""

    @extend_schema(request=ImportSerializer, responses={202: JobSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        form = ImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        project = access_project(request.user, data["project"], Ability.MANAGE)
        job = start_import(
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
        try:
            options = ExportOptions.from_params(data)
        except ExportOptionError as error:
            field, _, message = str(error).partition(": ")
            return Response({field: [message]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            job = start_export(project=project, user=request.user, options=options)
        except DjangoValidationError as error:  # e.g. a run of another project
            return Response(error.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
