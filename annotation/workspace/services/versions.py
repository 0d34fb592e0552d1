"""The version compare-and-swap every write of an annotator's work goes through (saves,
records, own paths), and the check that the work may still be written."""

from typing import Any

from django.db import connection
from django.utils import timezone

from annotation.core.fixed_sql import execute
from annotation.workspace.models import Assignment, AssignmentStatus
from annotation.workspace.services.claims import assignment_reclaim_expired
from annotation.workspace.services.errors import VersionConflict, WorkLocked, WorkspaceError

# Until the end of the transaction, its commit does not wait for the disk's flush.
ASYNC_COMMIT = "set_config('synchronous_commit', 'off', true)"


def compare_and_swap(
    assignment: Assignment, *, version: Any, draft: dict[str, Any], commit_async: bool = False
) -> int:
    """Stores the draft as the next version if `version` is the stored one (one fixed UPDATE:
    every autosave runs it), else raises VersionConflict with the stored work. Time on the item
    is counted apart (services/time_on_item.py). `commit_async` (PostgreSQL): the transaction
    that wins the swap commits without waiting for the disk's flush, asked in the same
    statement (services/saves.py says when)."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkspaceError("version is missing: reload the page.")
    meta = Assignment._meta
    sql = (
        f"UPDATE {meta.db_table} SET version = version + 1, draft = %s, updated_at = %s "
        "WHERE id = %s AND version = %s"
    )
    if commit_async and connection.vendor == "postgresql":
        sql += f" RETURNING {ASYNC_COMMIT}"
    params = [
        meta.get_field("draft").get_db_prep_save(draft, connection),
        meta.get_field("updated_at").get_db_prep_save(timezone.now(), connection),
        assignment.pk,
        version,
    ]
    if execute(sql, params) != 1:
        raise VersionConflict(Assignment.objects.get(pk=assignment.pk))
    return version + 1


def check_writable(assignment: Assignment) -> None:
    """Submitted and skipped work is final (WorkLocked); an expired claim is taken back."""
    if assignment.status in (AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED):
        raise WorkLocked(assignment)
    if assignment.status == AssignmentStatus.EXPIRED:
        assignment_reclaim_expired(assignment)
