from django.contrib import admin

from annotation.core.admin import ReadOnlyAdmin
from annotation.workspace.models import Assignment, GoldItem


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "project", "annotator", "status", "review_status", "claimed_at"]
    list_filter = ["kind", "status", "review_status", "project"]
    search_fields = ["annotator__username"]
    list_select_related = ["project", "annotator"]
    exclude = ["draft"]


@admin.register(GoldItem)
class GoldItemAdmin(ReadOnlyAdmin):
    list_display = ["trace"]
