"""The workspace's errors: what a user can fix, and a save that lost the version race."""

from __future__ import annotations

from annotation.workspace.models import Assignment


class WorkspaceError(Exception):
    """A request the user can fix; the message says what to change."""


class VersionConflict(Exception):
    """The save was based on an older version than the stored one."""

    def __init__(self, assignment: Assignment) -> None:
        super().__init__("Someone else saved this work in another window.")
        self.assignment = assignment
