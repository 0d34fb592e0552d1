from django.contrib import admin

from annotation.core.admin import ReadOnlyAdmin
from annotation.workspace.models import (
    Assignment,
    AssignmentEvent,
    GoldItem,
    QueuedTrace,
    Standing,
)


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


@admin.register(AssignmentEvent)
class AssignmentEventAdmin(ReadOnlyAdmin):
    """A claim's history: submits, returns and review decisions."""

    list_display = ["id", "assignment", "kind", "actor", "version", "created_at"]
    list_filter = ["kind"]
    search_fields = ["actor__username", "comment"]
    list_select_related = ["assignment", "actor"]


@admin.register(Standing)
class StandingAdmin(ReadOnlyAdmin):
    """Annotators' standing (screening, active, ...); changed on the project's dashboard."""

    list_display = ["user", "project", "status", "screening_accuracy", "updated_at"]
    list_filter = ["status", "project"]
    search_fields = ["user__username"]
    list_select_related = ["user", "project"]


@admin.register(QueuedTrace)
class QueuedTraceAdmin(ReadOnlyAdmin):
    """Model outputs sent to the annotators' queue."""

    list_display = ["trace", "job", "sent_by", "sent_at"]
    list_select_related = ["job", "sent_by"]
