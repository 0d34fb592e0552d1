from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from annotation.core.access import visible_projects
from annotation.core.disclosure import Disclosure, request_disclosure
from annotation.core.models import Project


class ProjectSerializer(serializers.ModelSerializer[Project]):
    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "guidelines",
            "overlap",
            "show_ground_truth",
            "stop_at_first_bad_step",
            "show_machine_suggestions",
            "created_at",
        ]


class ProjectViewSet(viewsets.ReadOnlyModelViewSet[Project]):
    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return visible_projects(self.request.user).order_by("id")


class DisclosingViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """Hands its serializer and filters the viewer's Disclosure (what they may see)."""

    @property
    def disclosure(self) -> Disclosure:
        return request_disclosure(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "disclosure": self.disclosure}
