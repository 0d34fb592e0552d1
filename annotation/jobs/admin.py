from django.contrib import admin

from annotation.core.admin import ReadOnlyAdmin
from annotation.jobs.models import Job


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Look jobs up here; cancel one on its page (the runner stops between chunks)."""

    list_display = ["id", "kind", "project", "status", "done", "total", "created_by", "created_at"]
    list_filter = ["kind", "status", "project"]
    search_fields = ["model_version", "prompt_version", "error"]
    list_select_related = ["project", "created_by"]
