"""The admin site: projects and members are edited here; every other model a person would
look up (problems, traces, grades, jobs, assignments, ...) is registered by its app read-only,
since the tree and the grades are written by their services only (docs/architecture.md)."""

from typing import Any

from django.contrib import admin

from annotation.core.models import ApiToken, Membership, Project


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Look, search and filter; no add, change or delete (their services write these rows)."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline[Membership, Project]):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ["name", "overlap", "stop_at_first_bad_step", "show_ground_truth", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]
    # Changes of this switch are logged for the agreement report, and the screening and QC
    # settings are checked by their service (a continuation model of this project only): the
    # settings page does both.
    readonly_fields = [
        "show_machine_suggestions",
        "screening_threshold",
        "qc_rate",
        "continuation_model",
        "queue_job_outputs",
        "created_at",
    ]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are made by their owners; an admin may look them up and revoke (delete) one."""

    list_display = ["prefix", "user", "name", "created_at", "expires_at", "last_used_at"]
    search_fields = ["user__username", "name", "prefix"]
    exclude = ["digest", "auth_hash"]

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return True
