from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework import serializers

from annotation.core.access import visible_projects
from annotation.core.pagination import KeysetPagination
from annotation.problems.models import Problem, Trace, TraceStep
from annotation.workspace.disclosure import DisclosingViewSet, Disclosure, request_disclosure


class ProblemSerializer(serializers.ModelSerializer[Problem]):
    """A problem; the ground truth and metadata only for whom the disclosure allows."""

    def to_representation(self, instance: Problem) -> dict[str, Any]:
        data = super().to_representation(instance)
        disclosure: Disclosure = self.context["disclosure"]
        return disclosure.problem(data, instance.project_id)

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


class ProblemViewSet(DisclosingViewSet):
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
    """A trace with its steps; verdicts and metadata only for whom the disclosure allows."""

    steps = TraceStepSerializer(many=True, read_only=True)
    project = serializers.IntegerField(source="problem.project_id", read_only=True)

    def to_representation(self, instance: Trace) -> dict[str, Any]:
        data = super().to_representation(instance)
        disclosure: Disclosure = self.context["disclosure"]
        return disclosure.trace(data, instance.problem.project_id, instance.author_id)

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
    """Filters on grades, correctness and finish reasons look only at what the viewer may see
    (a blind annotator cannot find the traces another annotator graded)."""

    project = django_filters.NumberFilter(field_name="problem__project")
    source = django_filters.CharFilter(method="graded_by", label="Graded by this source")
    correct = django_filters.BooleanFilter(method="correct_is")
    finish_reason = django_filters.CharFilter(method="finished_with")

    class Meta:
        model = Trace
        fields = ["problem", "origin", "job"]

    def _disclosure(self) -> Disclosure:
        return request_disclosure(self.request)

    def graded_by(self, traces: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        return self._disclosure().traces_graded_by(traces, value)

    def correct_is(self, traces: QuerySet[Trace], name: str, value: bool) -> QuerySet[Trace]:
        return self._disclosure().traces_correct(traces, value)

    def finished_with(self, traces: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        return self._disclosure().traces_finished(traces, value)


class TraceViewSet(DisclosingViewSet):
    serializer_class = TraceSerializer
    filterset_class = TraceFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet[Trace]:
        return (
            self.disclosure.traces(
                Trace.objects.filter(problem__project__in=visible_projects(self.request.user))
            )
            .select_related("problem")
            .prefetch_related("steps__node")
            .order_by("id")
        )
