from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.access import Ability, abilities
from annotation.core.models import ApiToken, Project
from annotation.core.tokens import TokenError, token_create

# Screening, QC, continuations and the queue: checked and saved by the workspace's service
# (annotation/projects.py passes them to project_quality_update).
QUALITY_SETTINGS = ("screening_threshold", "qc_rate", "continuation_model", "queue_job_outputs")


class ProjectSerializer(serializers.ModelSerializer[Project]):
    """A project and its settings (the projects API is annotation/projects.py)."""

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "guidelines",
            "record_guidelines",
            "overlap",
            "show_ground_truth",
            "stop_at_first_bad_step",
            "show_machine_suggestions",
            "claim_timeout_minutes",
            *QUALITY_SETTINGS,
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    continuation_model = serializers.IntegerField(
        source="continuation_model_id", allow_null=True, required=False
    )

    def to_representation(self, instance: Project) -> dict[str, Any]:
        """The screening and QC settings are the project admins' business only."""
        data = super().to_representation(instance)
        user = self.context["request"].user if "request" in self.context else None
        if user is None or Ability.MANAGE not in abilities(user, instance):
            for name in QUALITY_SETTINGS:
                data.pop(name, None)
        return data


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    days = serializers.IntegerField(
        write_only=True, required=False, help_text="Lifetime; at most STEPWISE_TOKEN_DAYS."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "days"]
        read_only_fields = ["id", "prefix", "created_at", "expires_at", "last_used_at"]


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[ApiToken],
):
    """The user's own API tokens: list, make (from a logged-in session only, so that a token
    cannot outlive itself by making the next one; the key is in the answer, once), revoke."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # the schema is built with no user
            return ApiToken.objects.none()
        user: Any = self.request.user  # logged in: IsAuthenticated
        return ApiToken.objects.filter(user=user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            raise PermissionDenied(
                "Make tokens from a logged-in session or manage.py create_token."
            )
        form = ApiTokenSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            token, key = token_create(
                user=request.user,
                name=form.validated_data.get("name", ""),
                days=form.validated_data.get("days"),
            )
        except TokenError as error:
            field, _, message = str(error).partition(": ")
            raise ValidationError({field: [message]}) from None
        body = {**ApiTokenSerializer(token).data, "key": key}
        return Response(body, status=status.HTTP_201_CREATED)
