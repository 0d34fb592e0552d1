from django.contrib import admin

from annotation.core.admin import ReadOnlyAdmin
from annotation.problems.models import Problem, Trace


@admin.register(Problem)
class ProblemAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "project", "source", "subject", "level", "answer"]
    list_filter = ["project", "source", "subject", "level"]
    search_fields = ["external_id", "text"]


@admin.register(Trace)
class TraceAdmin(ReadOnlyAdmin):
    list_display = ["id", "problem", "origin", "job", "final_answer", "is_correct", "created_at"]
    list_filter = ["origin", "is_correct", "problem__project"]
    search_fields = ["external_id", "problem__external_id"]
    list_select_related = ["problem", "job"]
