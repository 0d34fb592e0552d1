"""The door to an annotator's claims (see annotation/core/access.py)."""

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotation.core.access import Ability, check_ability
from annotation.core.fixed_sql import Selected, fetch_one
from annotation.core.models import Membership, Project
from annotation.grading.models import GradeSource
from annotation.workspace.models import Assignment


@cache
def _assignment_door() -> tuple[str, tuple[Selected, ...]]:
    """The assignment with its project, annotator, annotator's grade source and the asking
    user's role in the project: one fixed statement (autosaves come here several times a
    minute per annotator; see annotation/core/fixed_sql.py)."""
    user_model = get_user_model()
    parts = (
        Selected(Assignment, "a"),
        Selected(Project, "p"),
        Selected(user_model, "u"),
        Selected(GradeSource, "g"),
    )
    sql = (
        f"SELECT {', '.join(part.sql for part in parts)}, m.role "
        f"FROM {Assignment._meta.db_table} a "
        f"JOIN {Project._meta.db_table} p ON p.id = a.project_id "
        f"JOIN {user_model._meta.db_table} u ON u.id = a.annotator_id "
        f"LEFT JOIN {GradeSource._meta.db_table} g ON g.user_id = a.annotator_id "
        f"LEFT JOIN {Membership._meta.db_table} m "
        "ON m.project_id = a.project_id AND m.user_id = %s "
        "WHERE a.id = %s"
    )
    return sql, parts


def _fetch_assignment(user: Any, assignment_id: int) -> tuple[Assignment | None, Any]:
    """The assignment (project, annotator and grade source loaded) and the user's role."""
    sql, parts = _assignment_door()
    row = fetch_one(sql, [user.pk, assignment_id])
    if row is None:
        return None, None
    instances: list[Any] = []
    start = 0
    for part in parts:  # a part's first column is its primary key: None when left-joined out
        instances.append(part.instance(row, start) if row[start] is not None else None)
        start += part.width
    assignment, project, annotator, source = instances
    assignment.project = project
    assignment.annotator = annotator
    if source is not None:  # none yet: person_source() creates it on the first save
        annotator.grade_source = source
    return assignment, row[-1]


def access_assignment(
    user: Any, assignment_id: int, need: Ability = Ability.ANNOTATE
) -> Assignment:
    """An annotator's claim: only its annotator may change it (ANNOTATE); reviewers may see and
    review it (VIEW, REVIEW)."""
    assignment, role = _fetch_assignment(user, assignment_id)
    if assignment is None:
        raise Http404("No such assignment")
    granted = check_ability(user, assignment.project, need, role=role)
    if assignment.annotator_id != user.pk:
        if need == Ability.ANNOTATE:
            raise PermissionDenied("This is another annotator's work; you may not change it.")
        if Ability.REVIEW not in granted:
            raise PermissionDenied("Only reviewers may see other annotators' work.")
    return assignment
