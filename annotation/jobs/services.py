"""Job lifecycle: create and enqueue after commit, claim exactly once, report, finish.

A job row is claimed with a conditional UPDATE, so two deliveries of the same task (a
redelivery after a worker died, or a duplicate) never run it twice at the same time.
A running job whose heartbeat is older than settings.STEPWISE_JOB_STALE_SECONDS is considered
abandoned and may be claimed again; its runner then does only the work that is still missing.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from annotation.core.access import abilities
from annotation.core.models import Project
from annotation.jobs.access import job_ability
from annotation.jobs.boundary import check_job_inputs
from annotation.jobs.kinds import queue_for
from annotation.jobs.models import PHASE_MAX_LENGTH, Job, JobShard, JobStatus
from annotation.jobs.params import JobParams, job_columns, params_class
from annotation.jobs.quotas import check_quotas

logger = logging.getLogger(__name__)

# The tasks the web process and the workers send, by name: workers/tasks.py declares them
# under these names, and nothing here imports it (a lower layer does not import a higher one
# to call it).
RUN_JOB = "workers.tasks.run_job"
RUN_SHARD = "workers.tasks.run_shard"


class JobCancelled(Exception):
    """Raised inside a runner between chunks when someone asked to cancel the job."""


def check_cancel(job: Job) -> None:
    """Raise JobCancelled if someone asked to cancel the job (a runner asks between turns)."""
    if Job.objects.filter(pk=job.pk, cancel_requested=True).exists():
        raise JobCancelled


def stale_after() -> timedelta:
    """How old a running job's heartbeat may get before the job counts as abandoned."""
    return timedelta(seconds=settings.STEPWISE_JOB_STALE_SECONDS)


@transaction.atomic
def job_create(
    *,
    project: Project,
    kind: str,
    params: JobParams,
    created_by: Any = None,
    **fields: Any,
) -> Job:
    """Every job starts here: its parameters are of its kind's class, everything they name
    belongs to `project` (ParamsError naming the field otherwise), and no quota is passed
    (QuotaExceeded naming it, annotation/jobs/quotas.py); else nothing is created. Its total
    and the labels of the models and prompts it runs come from the parameters (job_columns)."""
    if not isinstance(params, params_class(kind)):
        raise TypeError(f"a {kind} job takes {params_class(kind).__name__}, not {params!r}")
    check_job_inputs(project, params)
    stored = params.as_params()
    check_quotas(project=project, kind=kind, params=stored, user=created_by)
    job = Job.objects.create(
        project=project,
        kind=kind,
        params=stored,
        created_by=created_by,
        **job_columns(params),
        **fields,
    )
    transaction.on_commit(lambda: enqueue(job))
    return job


def enqueue(job: Job, *, countdown: float | None = None) -> None:
    """Send the job's task. A broker that is down loses nothing: the job row stays queued and
    the workers' sweep (workers/sweeper.py) sends it again once the broker is back."""
    try:
        send_task(RUN_JOB, job.pk, queue=queue_for(job.kind), countdown=countdown)
    except BrokerError as error:
        logger.warning("job %s stays queued until the broker is back: %s", job.pk, error)


def send_task(
    name: str, argument: int | str, *, queue: str, countdown: float | None = None
) -> None:
    """Send the task called `name` to `queue` through the Celery app this process loaded
    (annotation/__init__.py loads it, as Celery's Django set-up does); raises the broker's
    OperationalError when it cannot."""
    current_app.send_task(name, args=(argument,), queue=queue, countdown=countdown)


def jobs_recover() -> list[int]:
    """Enqueue every unfinished job again: queued ones now, running ones when their heartbeat
    will be stale. Called when a worker starts, so jobs whose worker died (or whose message
    was lost) go on. A duplicate message is harmless: job_claim lets only one run."""
    now = timezone.now()
    limit = stale_after()
    recovered = []
    unfinished = Job.objects.filter(
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING], cancel_requested=False
    ).only("pk", "kind", "status", "heartbeat_at")
    for job in unfinished:
        countdown = None
        if job.status == JobStatus.RUNNING and job.heartbeat_at is not None:
            wait = (job.heartbeat_at + limit - now).total_seconds()
            countdown = max(wait, 0.0) + 1.0
        enqueue(job, countdown=countdown)
        recovered.append(job.pk)
    return recovered


def job_claim(job_id: int) -> Job | None:
    """Mark a queued (or abandoned running) job as running; None if someone else has it."""
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(
        status=JobStatus.RUNNING, heartbeat_at__lt=now - stale_after()
    )
    claimed = Job.objects.filter(claimable, pk=job_id, cancel_requested=False).update(
        status=JobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if claimed != 1:
        job_cancel_if_idle(job_id)
        return None
    return Job.objects.select_related("project", "created_by").get(pk=job_id)


@transaction.atomic
def job_cancel_if_idle(job_id: int) -> None:
    """Cancel now a job nobody is working on: queued, running with a stale heartbeat, or
    sharded with no shard in a worker's hands; its unfinished shards are cancelled with it.
    A live runner sees the flag at its next progress report (or shard) and stops there."""
    now = timezone.now()
    stale = now - stale_after()
    shards = JobShard.objects.filter(job_id=OuterRef("pk"))
    live = shards.filter(status=JobStatus.RUNNING, heartbeat_at__gte=stale)
    idle = (
        Q(status=JobStatus.QUEUED)
        | Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale)
        | (Q(status=JobStatus.RUNNING) & Exists(shards) & ~Exists(live))
    )
    if Job.objects.filter(idle, pk=job_id, cancel_requested=True).update(
        status=JobStatus.CANCELLED, finished_at=now
    ):
        abandoned = Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale)
        JobShard.objects.filter(Q(status=JobStatus.QUEUED) | abandoned, job_id=job_id).update(
            status=JobStatus.CANCELLED, finished_at=now
        )


def creator_refusal(job: Job) -> str | None:
    """Why a claimed job may not run: its creator no longer holds the ability that starting
    it needs (downgraded, removed from the project, or deactivated); None when it may. A job
    with no creator (started from the command line) runs."""
    creator = job.created_by
    if creator is None:
        return None
    need = job_ability(job.kind)
    if need in abilities(creator, job.project):
        return None
    return (
        f"Not run: {creator.get_username()}, who started this job, may no longer {need.value} "
        f"in project {job.project.name}."
    )


def beat(job_id: int) -> bool:
    """Refresh a running job's heartbeat; False when the job is no longer running."""
    return bool(
        Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
    )


# The job this worker thread runs (the task sets it), so that code far below the runner (a
# model loading for the first chunk: a vLLM engine takes tens of seconds) can tell its page.
_current_job: ContextVar[Job | None] = ContextVar("stepwise_current_job", default=None)


@contextmanager
def running(job: Job) -> Iterator[None]:
    token = _current_job.set(job)
    try:
        yield
    finally:
        _current_job.reset(token)


def current_job() -> Job | None:
    return _current_job.get()


def job_phase_set(job: Job, phase: str) -> None:
    """Say what a running job is doing before its next progress report (loading a model,
    starting an engine); the job's page shows it. The next report clears it."""
    phase = phase[:PHASE_MAX_LENGTH]
    job.phase = phase
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        phase=phase, heartbeat_at=timezone.now()
    )


def job_progress_report(job: Job, done: int, total: int | None = None) -> None:
    """Store progress and the heartbeat (clearing the phase); raise JobCancelled if a cancel
    was requested."""
    job.done = done
    job.phase = ""
    fields: dict[str, Any] = {"done": done, "heartbeat_at": timezone.now(), "phase": ""}
    if total is not None:
        job.total = total
        fields["total"] = total
    Job.objects.filter(pk=job.pk).update(**fields)
    check_cancel(job)


def job_cancel_request(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    job_cancel_if_idle(job.pk)
    job.refresh_from_db()


def job_finish(job: Job, *, result: dict[str, Any] | None = None) -> None:
    """Mark a running job succeeded (a job cancelled meanwhile stays cancelled)."""
    job.finished_at = timezone.now()
    if result is not None:
        job.result = result
    updated = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED,
        finished_at=job.finished_at,
        result=job.result,
        output_file=job.output_file.name or "",
        error="",
        phase="",
    )
    if updated:
        job.status = JobStatus.SUCCEEDED


@transaction.atomic
def job_fail(job: Job, error: str) -> None:
    """Fail the job; shards no worker is doing are cancelled (running ones stop at their end)."""
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error=error, finished_at=timezone.now(), phase=""
    )
    JobShard.objects.filter(job_id=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )


def job_requeue(job: Job, error: str) -> None:
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.QUEUED, error=f"retrying after: {error}"
    )


def job_mark_cancelled(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), phase=""
    )
