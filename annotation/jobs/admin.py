from django.contrib import admin

from annotation.core.admin import ReadOnlyAdmin
from annotation.jobs.models import Job, JobShard


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Look jobs up here; cancel one on its page (the runner stops between chunks)."""

    list_display = ["id", "kind", "project", "status", "done", "total", "created_by", "created_at"]
    list_filter = ["kind", "status", "project"]
    search_fields = ["model_version", "prompt_version", "error"]
    list_select_related = ["project", "created_by"]


@admin.register(JobShard)
class JobShardAdmin(ReadOnlyAdmin):
    """A model job's shards: which worker holds one, its attempts and error."""

    list_display = ["id", "job", "index", "queue", "status", "attempts", "worker", "heartbeat_at"]
    list_filter = ["status", "queue"]
    search_fields = ["worker", "error"]
    list_select_related = ["job"]
