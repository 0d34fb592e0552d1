"""REST: model configs of a project, and starting LLM jobs (follow them at /api/jobs/ID/)."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from algorithms.model_policy import without_secrets
from annotation.core.access import Ability, access_project, member_roles
from annotation.core.api_fields import JSONObjectField
from annotation.core.models import Role
from annotation.jobs.api import JobSerializer
from annotation.jobs.boundary import check_in_project
from annotation.jobs.models import JobKind
from annotation.jobs.params import MODEL_CONFIG
from annotation.llm import selectors, services
from annotation.llm.access import access_model_config, access_prompt_template
from annotation.llm.models import ModelConfig
from annotation.llm.services import MODEL_FIELDS

RESEARCH_ROLES = (Role.RESEARCHER, Role.ADMIN)


def _field_help(name: str) -> str:
    return str(getattr(ModelConfig._meta.get_field(name), "help_text", ""))


class ModelConfigSerializer(serializers.ModelSerializer[ModelConfig]):
    default_sampling = JSONObjectField(required=False, help_text=_field_help("default_sampling"))
    options = JSONObjectField(required=False, help_text=_field_help("options"))

    class Meta:
        model = ModelConfig
        fields = ["id", "project", *MODEL_FIELDS, "version", "created_at", "updated_at"]
        read_only_fields = ["id", "version", "created_at", "updated_at"]
        # The name's uniqueness is the service's to check, with a message naming the field.
        validators: list[Any] = []

    def to_representation(self, instance: ModelConfig) -> dict[str, Any]:
        data = super().to_representation(instance)
        # A row saved before options were checked may hold a secret: never show it back.
        data["options"] = without_secrets(data["options"])
        return data


class ModelConfigViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet[ModelConfig],
):
    serializer_class = ModelConfigSerializer
    filterset_fields = ["project", "kind", "scorer_head"]

    def get_queryset(self) -> QuerySet[ModelConfig]:
        if getattr(self, "swagger_fake_view", False):  # the schema is built with no user
            return ModelConfig.objects.none()
        user = self.request.user
        configs = ModelConfig.objects.order_by("id")
        if user.is_superuser:
            return configs
        research = [p for p, role in member_roles(user).items() if role in RESEARCH_ROLES]
        return configs.filter(project_id__in=research)

    def get_object(self) -> ModelConfig:
        return access_model_config(self.request.user, int(self.kwargs["pk"]))

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        project = access_project(self.request.user, data.pop("project").pk, Ability.RESEARCH)
        serializer.instance = services.model_config_create(
            project=project, user=self.request.user, **data
        )

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.pop("project", None)
        serializer.instance = services.model_config_update(
            config=serializer.instance, user=self.request.user, **data
        )


class StartJobSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=[JobKind.SAMPLE, JobKind.EXPAND, JobKind.SCORE])
    model = serializers.IntegerField(required=False, help_text="Generator (sample, expand).")
    prompt = serializers.IntegerField(required=False, help_text="Prompt template id.")
    scorer = serializers.IntegerField(required=False, help_text="Scorer (score; expand: optional).")
    mode = serializers.ChoiceField(choices=["expand", "rationalize"], default="expand")
    problem_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    trace_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    n = serializers.IntegerField(default=1)
    sampling = serializers.DictField(required=False, default=dict)
    chunk_size = serializers.IntegerField(default=4)
    preset = serializers.ChoiceField(
        choices=sorted(services.SAMPLING_PRESETS),
        required=False,
        allow_blank=True,
        default="",
        help_text="sample: a recipe's n and sampling over the given ones; dpo: 20 samples at "
        "temperature 0.7, top_p 0.95.",
    )
    review = serializers.ChoiceField(
        choices=["accepted", "not_rejected", "all"],
        default="not_rejected",
        help_text="Expand: thought records by their review.",
    )


class LLMJobViewSet(viewsets.GenericViewSet[Any]):
    """POST a job: the problems or traces are given by id (the pages offer filters)."""

    serializer_class = StartJobSerializer

    def create(self, request: Request) -> Response:
        form = StartJobSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        project = access_project(request.user, data["project"], Ability.RESEARCH)
        kind = data["kind"]
        scorer = access_model_config(request.user, data["scorer"]) if "scorer" in data else None
        if scorer is not None:  # checked even where the kind does not use it: never dropped
            check_in_project(project, "scorer", MODEL_CONFIG, [scorer.pk])
            if kind == JobKind.SAMPLE:
                raise ValidationError({"scorer": "a sample job uses no scorer; leave it out"})
        if kind == JobKind.SCORE:
            if scorer is None:
                raise ValidationError({"scorer": "a scoring job needs a scorer"})
            job = services.score_job_start(
                project=project,
                user=request.user,
                scorer=scorer,
                trace_ids=data.get("trace_ids", []),
                chunk_size=data["chunk_size"],
            )
        else:
            if "model" not in data or "prompt" not in data:
                raise ValidationError({"model": f"a {kind} job needs a model and a prompt"})
            common: dict[str, Any] = {
                "project": project,
                "user": request.user,
                "model": access_model_config(request.user, data["model"]),
                "prompt": selectors.latest_version(
                    access_prompt_template(request.user, data["prompt"])
                ),
                "n": data["n"],
                "sampling": data["sampling"],
                "chunk_size": data["chunk_size"],
            }
            if kind == JobKind.SAMPLE:
                job = services.sample_job_start(
                    problem_ids=data.get("problem_ids", []), preset=data["preset"], **common
                )
            else:
                job = services.expand_job_start(
                    mode=data["mode"],
                    trace_ids=data.get("trace_ids"),
                    problem_ids=data.get("problem_ids"),
                    scorer=scorer,
                    review=data["review"],
                    **common,
                )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
