"""Who may do what in a project, and the door to projects. Every other object type has its
one access function in its own app (`annotation/<app>/access.py`: `access_problem`,
`access_trace`, `access_job`, `access_assignment`, `access_model_config`, ...), built on
`check_ability` here, so that core imports no feature app.

Each raises Http404 when the user may not know the object exists (not a member of its
project) and PermissionDenied when they may see it but not do what they asked.
"""

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotation.core.models import Membership, Project, Role


class Ability(StrEnum):
    VIEW = "view"
    ANNOTATE = "annotate"
    REVIEW = "review"  # see every annotator's grades, accept or reject
    RESEARCH = "research"  # run model jobs, see analyses
    MANAGE = "manage"  # import, export, settings, members


ROLE_ABILITIES: dict[str, frozenset[Ability]] = {
    Role.ANNOTATOR: frozenset({Ability.VIEW, Ability.ANNOTATE}),
    Role.REVIEWER: frozenset({Ability.VIEW, Ability.ANNOTATE, Ability.REVIEW}),
    Role.RESEARCHER: frozenset({Ability.VIEW, Ability.REVIEW, Ability.RESEARCH}),
    Role.ADMIN: frozenset(Ability),
}


_LOOK_UP = object()  # abilities(): the role is not known yet, read the membership


def abilities(user: Any, project: Project, *, role: Any = _LOOK_UP) -> frozenset[Ability]:
    """What `user` may do in `project`; `role` when the caller fetched it with the object."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Ability)
    if role is _LOOK_UP:
        role = (
            Membership.objects.filter(project=project, user=user)
            .values_list("role", flat=True)
            .first()
        )
    return ROLE_ABILITIES.get(role or "", frozenset())


def check_ability(
    user: Any, project: Project, need: Ability, *, role: Any = _LOOK_UP
) -> frozenset[Ability]:
    granted = abilities(user, project, role=role)
    if not granted:
        raise Http404("No such project")
    if need not in granted:
        raise PermissionDenied(f"You may not {need.value} in project {project.name}.")
    return granted


def member_roles(user: Any) -> dict[int, str]:
    """The user's role in each project they are a member of."""
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


def visible_projects(user: Any) -> QuerySet[Project]:
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def access_project(user: Any, project_id: int, need: Ability = Ability.VIEW) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project")
    check_ability(user, project, need)
    return project


def may_create_projects(user: Any) -> bool:
    """Site admins (superusers) make projects; a project's own admins then run it."""
    return bool(user.is_authenticated and user.is_active and user.is_superuser)
