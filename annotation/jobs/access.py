"""The door to jobs for a user (see annotation/core/access.py)."""

from collections.abc import Collection
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotation.core.access import Ability, abilities, check_ability
from annotation.jobs.kinds import kind_of
from annotation.jobs.models import Job


def job_ability(kind: str) -> Ability:
    """What starting (and running) a job of this kind needs, as its row in the kinds table
    says: imports and exports are admins' business, model jobs researchers', continuing their
    own path annotators'."""
    return kind_of(kind).ability


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


def access_job_of(
    user: Any, job_id: int, kinds: Collection[str], what: str, need: Ability = Ability.VIEW
) -> Job:
    """access_job for a page of some kinds of job only: a job of another kind is no `what`
    there (404)."""
    job = access_job(user, job_id, need)
    if job.kind not in kinds:
        raise Http404(f"No such {what}")
    return job
