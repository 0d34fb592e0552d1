"""What goes to the annotators' grading queue: model outputs only when a researcher sends
them (imported traces and human solutions are there already; a project may also queue every
job's outputs, `Project.queue_job_outputs`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from annotation.core.models import Project
from annotation.jobs.models import Job
from annotation.problems.models import Trace
from annotation.workspace.models import QueuedTrace
from annotation.workspace.services.claims import NEVER_QUEUED_ORIGINS
from annotation.workspace.services.errors import WorkspaceError

MAX_SENT = 100_000


@transaction.atomic
def traces_send(
    *,
    project: Project,
    user: Any,
    job: Job | None = None,
    trace_ids: Sequence[int] | None = None,
    correct: bool | None = None,
) -> int:
    """Sends the job's outputs, or the traces named (or both: those of the job named), whose
    correctness is `correct` when given; returns how many were not in the queue yet."""
    if job is None and not trace_ids:
        raise WorkspaceError("Name a job or trace_ids to send to the queue.")
    traces = Trace.objects.filter(problem__project=project).exclude(origin__in=NEVER_QUEUED_ORIGINS)
    if job is not None:
        if job.project_id != project.pk:
            raise WorkspaceError(f"job: {job.pk} is not a job of {project.name}.")
        traces = traces.filter(job=job)
    if trace_ids:
        if len(trace_ids) > MAX_SENT:
            raise WorkspaceError(f"trace_ids: at most {MAX_SENT} at a time.")
        found = set(traces.filter(pk__in=list(trace_ids)).values_list("pk", flat=True))
        missing = [pk for pk in trace_ids if pk not in found]
        if missing:
            raise WorkspaceError(
                f"trace_ids: {missing[0]} is not a trace of {project.name} that can be graded."
            )
        traces = traces.filter(pk__in=found)
    if correct is not None:
        traces = traces.filter(is_correct=correct)
    ids = list(traces.exclude(queued__isnull=False).values_list("pk", flat=True)[:MAX_SENT])
    QueuedTrace.objects.bulk_create(
        [QueuedTrace(trace_id=pk, sent_by=user, job=job) for pk in ids], ignore_conflicts=True
    )
    return len(ids)
