from django.contrib import admin

from annotation.core.admin import ReadOnlyAdmin
from annotation.grading.models import Grade, GradeSource


@admin.register(GradeSource)
class GradeSourceAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "user", "job"]
    list_filter = ["kind"]
    search_fields = ["name", "user__username"]


@admin.register(Grade)
class GradeAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "trace", "rating", "score", "is_current", "created_at"]
    list_filter = ["is_current", "rating", "source__kind"]
    search_fields = ["source__name"]
    list_select_related = ["source"]
