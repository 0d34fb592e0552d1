"""The only door to objects for a user: one access function per object type.

Each raises Http404 when the user may not know the object exists (not a member of its
project) and PermissionDenied when they may see it but not do what they asked.
"""

from enum import StrEnum
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotation.core.fixed_sql import Selected, fetch_one
from annotation.core.models import Membership, Project, Role
from annotation.grading.models import GradeSource
from annotation.jobs.models import Job, JobKind
from annotation.llm.models import ModelConfig, PromptTemplate
from annotation.problems.models import Problem, Trace
from annotation.workspace.models import Assignment


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


def access_problem(user: Any, problem_id: int, need: Ability = Ability.VIEW) -> Problem:
    problem = Problem.objects.select_related("project").filter(pk=problem_id).first()
    if problem is None:
        raise Http404("No such problem")
    check_ability(user, problem.project, need)
    return problem


def access_trace(user: Any, trace_id: int, need: Ability = Ability.VIEW) -> Trace:
    trace = Trace.objects.select_related("problem__project").filter(pk=trace_id).first()
    if trace is None:
        raise Http404("No such trace")
    check_ability(user, trace.problem.project, need)
    return trace


def job_ability(kind: str) -> Ability:
    """What starting (and running) a job of this kind needs: imports and exports are admins'
    business, model jobs researchers'."""
    return Ability.MANAGE if kind in (JobKind.IMPORT, JobKind.EXPORT) else Ability.RESEARCH


def may_change_job(user: Any, job: Job, granted: frozenset[Ability] | None = None) -> bool:
    """The one who started a job and the project's admins may change (cancel) it."""
    if granted is None:
        granted = abilities(user, job.project)
    return bool(granted) and (job.created_by_id == user.pk or Ability.MANAGE in granted)


def access_job(user: Any, job_id: int, need: Ability = Ability.VIEW) -> Job:
    """VIEW: whoever may start such a job, and the one who started it. MANAGE (cancel): see
    may_change_job. Other needs: that ability in the project."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job")
    granted = check_ability(user, job.project, Ability.VIEW)
    if need == Ability.MANAGE:
        if not may_change_job(user, job, granted):
            raise PermissionDenied("Only the one who started this job and admins may change it.")
        return job
    if need == Ability.VIEW:
        if job.created_by_id == user.pk:
            return job
        need = job_ability(job.kind)
    if need not in granted:
        raise PermissionDenied(f"You may not {need.value} in project {job.project.name}.")
    return job


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


def access_model_config(user: Any, config_id: int, need: Ability = Ability.RESEARCH) -> ModelConfig:
    config = ModelConfig.objects.select_related("project").filter(pk=config_id).first()
    if config is None:
        raise Http404("No such model")
    check_ability(user, config.project, need)
    return config


def access_prompt_template(
    user: Any, template_id: int, need: Ability = Ability.RESEARCH
) -> PromptTemplate:
    template = PromptTemplate.objects.select_related("project").filter(pk=template_id).first()
    if template is None:
        raise Http404("No such prompt")
    check_ability(user, template.project, need)
    return template
