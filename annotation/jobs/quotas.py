"""Quotas on work, checked by `job_create` before a job row is written: per user and per
project, jobs queued or running at once and job starts in the last hour; and one export of a
whole project at a time. The operator sets the numbers (settings, STEPWISE_QUOTA_*; 0 is no
limit). A refused start names the limit and when it frees.

Jobs started with no user (from the shell) count against their project's quotas only. The
user's and the project's rows are locked while counting, so two starts at the same moment
cannot both take the last place."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from annotation.core.limits import LimitReached
from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind, JobStatus

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
HOUR = timedelta(hours=1)
# What an export narrows its scope by (ExportOptions): with none of them it reads the whole
# project, which is what only one export at a time may do.
EXPORT_SCOPE = ("jobs", "tree_round", "kinds")


class QuotaExceeded(LimitReached):
    pass


@dataclass(frozen=True)
class Scope:
    """Whose jobs a quota counts: a user's (anywhere) or a project's (anyone's)."""

    jobs: Q
    who: str  # "you have", "project P has"
    setting_suffix: str  # "USER", "PROJECT"


def check_quotas(*, project: Project, kind: str, params: dict[str, Any], user: Any) -> None:
    """Raise QuotaExceeded, naming the limit, if starting this job would pass one."""
    scopes = []
    if user is not None and user.pk is not None:
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        scopes.append(Scope(Q(created_by_id=user.pk), "you have", "USER"))
    Project.objects.select_for_update().filter(pk=project.pk).first()
    scopes.append(Scope(Q(project_id=project.pk), f"project {project.name} has", "PROJECT"))
    if kind == JobKind.EXPORT and not any(params.get(name) for name in EXPORT_SCOPE):
        _one_whole_export(project)
    for scope in scopes:
        _active(scope)
        _starts(scope)


def _one_whole_export(project: Project) -> None:
    running = Job.objects.filter(project=project, kind=JobKind.EXPORT, status__in=ACTIVE)
    for job in running.only("pk", "params"):
        if not any(job.params.get(name) for name in EXPORT_SCOPE):
            raise QuotaExceeded(
                f"An export of the whole of project {project.name} is already queued or "
                f"running (job {job.pk}); one runs at a time. Start this one when it finishes, "
                "or narrow it to some jobs or kinds.",
                setting="one whole-project export at a time",
            )


def _active(scope: Scope) -> None:
    setting = f"STEPWISE_QUOTA_ACTIVE_JOBS_PER_{scope.setting_suffix}"
    limit = getattr(settings, setting)
    if limit <= 0:
        return
    active = list(
        Job.objects.filter(scope.jobs, status__in=ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if len(active) >= limit:
        shown = ", ".join(str(pk) for pk in active[:5])
        more = f" and {len(active) - 5} more" if len(active) > 5 else ""
        raise QuotaExceeded(
            f"Not started: {scope.who} {len(active)} jobs queued or running, the quota of "
            f"{setting} = {limit}. A place frees when one of them finishes or is cancelled "
            f"(jobs {shown}{more}).",
            setting=setting,
        )


def _starts(scope: Scope) -> None:
    setting = f"STEPWISE_QUOTA_STARTS_PER_HOUR_PER_{scope.setting_suffix}"
    limit = getattr(settings, setting)
    if limit <= 0:
        return
    now = timezone.now()
    recent = Job.objects.filter(scope.jobs, created_at__gte=now - HOUR)
    started = recent.count()
    if started >= limit:
        # The place frees when the oldest start in the window is an hour old.
        oldest = recent.order_by("created_at").values_list("created_at", flat=True)[started - limit]
        frees = oldest + HOUR
        wait = max(int((frees - now).total_seconds()) + 1, 1)
        raise QuotaExceeded(
            f"Not started: {scope.who} started {started} jobs in the last hour, the quota of "
            f"{setting} = {limit}. The next start is allowed at {frees:%H:%M:%S} UTC "
            f"(in {_duration(wait)}).",
            setting=setting,
            retry_after=wait,
        )


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"
