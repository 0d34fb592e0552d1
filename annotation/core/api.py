from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from annotation.core.access import visible_projects
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
