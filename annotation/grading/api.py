import django_filters
from django.db.models import QuerySet
from rest_framework import serializers

from annotation.core.pagination import KeysetPagination
from annotation.grading.models import Grade
from annotation.grading.selectors import current_grades
from annotation.workspace.disclosure import DisclosingViewSet


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


class GradeViewSet(DisclosingViewSet):
    """Grades the viewer may see: a blind annotator gets their own current grades and the
    project's machine suggestions if it shows them (annotation/core/disclosure.py)."""

    serializer_class = GradeSerializer
    filterset_class = GradeFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet[Grade]:
        # Current grades unless the request asks for history (`?is_current=false`).
        grades = (
            Grade.objects.all() if "is_current" in self.request.query_params else current_grades()
        )
        return self.disclosure.grades(grades).select_related("source").order_by("id")
