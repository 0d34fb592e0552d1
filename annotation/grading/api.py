import django_filters
from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from annotation.core.access import visible_projects
from annotation.grading.models import Grade
from annotation.grading.selectors import current_grades


class GradeSerializer(serializers.ModelSerializer[Grade]):
    source_name = serializers.CharField(source="source.name")
    source_kind = serializers.CharField(source="source.kind")

    class Meta:
        model = Grade
        fields = [
            "id",
            "node",
            "trace",
            "source_name",
            "source_kind",
            "rating",
            "score",
            "unsure",
            "flagged",
            "critique",
            "reason",
            "is_current",
            "created_at",
        ]


class GradeFilter(django_filters.FilterSet):
    project = django_filters.NumberFilter(field_name="node__problem__project")
    source = django_filters.CharFilter(field_name="source__name")
    source_kind = django_filters.CharFilter(field_name="source__kind")
    job = django_filters.NumberFilter(field_name="source__job", label="Given by this job's run")

    class Meta:
        model = Grade
        fields = ["trace", "node", "is_current"]


class GradeViewSet(viewsets.ReadOnlyModelViewSet[Grade]):
    serializer_class = GradeSerializer
    filterset_class = GradeFilter

    def get_queryset(self) -> QuerySet[Grade]:
        # Current grades unless the request asks for history (`?is_current=false`).
        grades = (
            Grade.objects.all() if "is_current" in self.request.query_params else current_grades()
        )
        return (
            grades.filter(node__problem__project__in=visible_projects(self.request.user))
            .select_related("source")
            .order_by("id")
        )
