"""Writes of projects and memberships. Who may call them is decided by the callers with
annotation/core/access.py (`may_create_projects`, Ability.MANAGE); the rules that hold whoever
calls are here: names are unique, a project keeps at least one admin."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.core.models import Membership, Project, Role

# The settings a project's admins edit (pages and API); Project.show_machine_suggestions is
# changed through the evaluation app, which logs each change (see annotation/projects.py).
PROJECT_FIELDS: tuple[str, ...] = (
    "name",
    "guidelines",
    "record_guidelines",
    "overlap",
    "show_ground_truth",
    "stop_at_first_bad_step",
    "claim_timeout_minutes",
    "export_test_fraction",
)


# Settings that must be at least 1 (the database checks overlap too, without naming it).
AT_LEAST_ONE = {
    "overlap": "at least 1 annotator per item",
    "claim_timeout_minutes": "at least 1 minute",
}


def _check_settings(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "not a project setting"})
    for name, message in AT_LEAST_ONE.items():
        if name in fields and fields[name] < 1:
            raise ValidationError({name: message})


def _check_name(name: str, *, exclude: int | None = None) -> None:
    if not name.strip():
        raise ValidationError({"name": "a project needs a name"})
    taken = Project.objects.filter(name=name.strip())
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError({"name": f"a project named {name.strip()!r} exists already"})


@transaction.atomic
def project_create(*, user: Any, name: str, **fields: Any) -> Project:
    """A new project; the one who makes it is its first admin."""
    _check_name(name)
    _check_settings(fields)
    project = Project(name=name.strip(), **fields)
    project.full_clean()
    project.save()
    if user is not None and user.is_authenticated:
        Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return project


@transaction.atomic
def project_update(*, project: Project, **fields: Any) -> Project:
    """Change settings (PROJECT_FIELDS only); returns the project as stored."""
    _check_settings(fields)
    locked = Project.objects.select_for_update().get(pk=project.pk)
    if "name" in fields:
        _check_name(fields["name"], exclude=locked.pk)
        fields["name"] = fields["name"].strip()
    changed = [name for name, value in fields.items() if getattr(locked, name) != value]
    for name in changed:
        setattr(locked, name, fields[name])
    if changed:
        locked.full_clean()
        locked.save(update_fields=changed)
    return locked


def _check_admin_remains(project: Project, user_id: int) -> None:
    others = project.memberships.filter(role=Role.ADMIN).exclude(user_id=user_id)
    if not others.exists():
        raise ValidationError({"role": "a project keeps at least one admin; make another first"})


@transaction.atomic
def member_set(*, project: Project, username: str, role: str) -> tuple[Membership, bool]:
    """Add a user to the project with `role`, or change their role; (membership, created)."""
    if role not in Role.values:
        raise ValidationError({"role": f"{role!r} is not one of {', '.join(Role.values)}"})
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise ValidationError(
            {"username": f"no user named {username.strip()!r}; create the account first"}
        )
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one change at a time
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        return Membership.objects.create(project=project, user=user, role=role), True
    if membership.role != role:
        if membership.role == Role.ADMIN:
            _check_admin_remains(project, user.pk)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership, False


@transaction.atomic
def member_remove(*, project: Project, user_id: int) -> bool:
    """Take a user out of the project; False when they were not a member."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    membership = Membership.objects.filter(project=project, user_id=user_id).first()
    if membership is None:
        return False
    if membership.role == Role.ADMIN:
        _check_admin_remains(project, user_id)
    membership.delete()
    return True
