import django_filters
from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from annotation.core.access import visible_projects
from annotation.problems.models import Problem, Trace, TraceStep


class ProblemSerializer(serializers.ModelSerializer[Problem]):
    class Meta:
        model = Problem
        fields = [
            "id",
            "project",
            "external_id",
            "text",
            "answer",
            "solution",
            "source",
            "subject",
            "level",
            "metadata",
            "created_at",
        ]


class ProblemFilter(django_filters.FilterSet):
    class Meta:
        model = Problem
        fields = ["project", "source", "subject", "level", "external_id"]


class ProblemViewSet(viewsets.ReadOnlyModelViewSet[Problem]):
    serializer_class = ProblemSerializer
    filterset_class = ProblemFilter

    def get_queryset(self) -> QuerySet[Problem]:
        return Problem.objects.filter(project__in=visible_projects(self.request.user)).order_by(
            "id"
        )


class TraceStepSerializer(serializers.ModelSerializer[TraceStep]):
    node = serializers.UUIDField(source="node_id")
    text = serializers.CharField(source="node.text")
    kind = serializers.CharField(source="node.kind")
    parent_node = serializers.UUIDField(source="node.parent_id", allow_null=True)

    class Meta:
        model = TraceStep
        fields = [
            "position",
            "option",
            "on_path",
            "node",
            "parent_node",
            "kind",
            "text",
            "backtrack_to",
        ]


class TraceSerializer(serializers.ModelSerializer[Trace]):
    steps = TraceStepSerializer(many=True, read_only=True)
    project = serializers.IntegerField(source="problem.project_id", read_only=True)

    class Meta:
        model = Trace
        fields = [
            "id",
            "project",
            "problem",
            "origin",
            "external_id",
            "author",
            "job",
            "source_trace",
            "final_answer",
            "is_correct",
            "finish_reason",
            "time_spent_ms",
            "metadata",
            "created_at",
            "steps",
        ]


class TraceFilter(django_filters.FilterSet):
    project = django_filters.NumberFilter(field_name="problem__project")
    source = django_filters.CharFilter(
        field_name="grades__source__name", distinct=True, label="Graded by this source"
    )
    correct = django_filters.BooleanFilter(field_name="is_correct")

    class Meta:
        model = Trace
        fields = ["problem", "origin", "finish_reason", "job"]


class TraceViewSet(viewsets.ReadOnlyModelViewSet[Trace]):
    serializer_class = TraceSerializer
    filterset_class = TraceFilter

    def get_queryset(self) -> QuerySet[Trace]:
        return (
            Trace.objects.filter(problem__project__in=visible_projects(self.request.user))
            .select_related("problem")
            .prefetch_related("steps__node")
            .order_by("id")
        )
