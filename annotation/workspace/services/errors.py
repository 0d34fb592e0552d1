"""The workspace's errors: what a user can fix, a save that lost the version race, and a
write to work that is final."""

from __future__ import annotations

from annotation.core.errors import UserError
from annotation.workspace.models import Assignment, AssignmentStatus


class WorkspaceError(UserError):
    """A request the user can fix; the message says what to change."""


class VersionConflict(Exception):
    """The save was based on an older version than the stored one."""

    def __init__(self, assignment: Assignment) -> None:
        super().__init__("Someone else saved this work in another window.")
        self.assignment = assignment


class WorkLocked(Exception):
    """A write to submitted or skipped work: it is final until a reviewer returns it."""

    def __init__(self, assignment: Assignment) -> None:
        if assignment.status == AssignmentStatus.SKIPPED:
            message = "You skipped this item; it can no longer be changed."
        else:
            message = (
                "This work was submitted and can no longer be changed; a reviewer can return "
                "it to you with a comment."
            )
        super().__init__(message)
        self.assignment = assignment


class WorkGone(Exception):
    """The work was deleted after the request found it (its project removed while a page's
    last flush waited for the row)."""

    def __init__(self) -> None:
        super().__init__("This work no longer exists.")
