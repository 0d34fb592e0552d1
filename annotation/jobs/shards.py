"""Shards: one model job's items cut into rows that any worker may take.

A model job is planned once (its items split into `JobShard` rows, one chunk each) and then
done by whichever workers are free: each takes the first shard nobody holds with a row lock
(`SELECT ... FOR UPDATE SKIP LOCKED`), beats its heartbeat while it works, and marks it
succeeded in the same transaction that counts its items into the job's progress. A shard whose
heartbeat stopped (its worker died, or lost the database) is taken again by another worker; the
runners write only what is missing, so a shard that runs twice writes nothing twice.

The broker only wakes workers up: a message names a queue, not a shard, and the database says
which shard to take. A worker prefers shards of jobs that load the model it used last.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils import timezone

from annotation.jobs.kinds import queue_for
from annotation.jobs.models import Job, JobShard, JobStatus
from annotation.jobs.services import job_fail, stale_after

# A shard is taken at most this many times: a shard that kills its worker every time (out of
# memory, a segfault in an engine) fails its job instead of going round for ever.
MAX_SHARD_ATTEMPTS = 5
# The longest wait before a shard that hit a retryable error is tried again.
MAX_RETRY_DELAY_S = 60.0


def model_key(params: dict[str, Any]) -> str:
    """Which models a job loads: a digest of every model snapshot in its parameters (the fields
    that decide what is loaded), so workers can keep engines loaded across shards."""
    snapshots = {
        name: {k: value.get(k) for k in ("kind", "path_or_endpoint", "dtype", "options")}
        for name, value in sorted(params.items())
        if isinstance(value, dict) and "path_or_endpoint" in value
    }
    if not snapshots:
        return ""
    encoded = json.dumps(snapshots, sort_keys=True, default=str).encode()
    return hashlib.sha1(encoded, usedforsecurity=False).hexdigest()


@transaction.atomic
def shards_plan(job: Job, items: Sequence[int], chunk_size: int) -> int:
    """Create the job's shards, one per chunk of items (once: planning again after a crash adds
    nothing), and set its total; returns how many shards are waiting for a worker."""
    rows = [
        JobShard(
            job=job,
            index=index,
            items=list(items[start : start + chunk_size]),
            queue=queue_for(job.kind),
            model_key=model_key(job.params),
        )
        for index, start in enumerate(range(0, len(items), chunk_size))
    ]
    JobShard.objects.bulk_create(rows, ignore_conflicts=True)
    total = sum(len(row.items) for row in rows)
    Job.objects.filter(pk=job.pk).update(total=total, heartbeat_at=timezone.now())
    return JobShard.objects.filter(job=job, status=JobStatus.QUEUED).count()


def _claimable(now: Any) -> Q:
    waiting = Q(status=JobStatus.QUEUED) & (Q(retry_at__isnull=True) | Q(retry_at__lte=now))
    abandoned = Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    return (waiting | abandoned) & Q(
        attempts__lt=MAX_SHARD_ATTEMPTS,
        job__status=JobStatus.RUNNING,
        job__cancel_requested=False,
    )


def shard_claim(*, queue: str, worker: str, preferred_model: str = "") -> JobShard | None:
    """Take the next shard of `queue` nobody is working on, or None.

    Shards of jobs loading `preferred_model` come first, then the oldest job's, in order. The
    row lock (skipping rows other workers hold) makes the claim atomic."""
    now = timezone.now()
    with transaction.atomic():
        shard = (
            JobShard.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable(now), queue=queue)
            .order_by(
                Case(
                    When(model_key=preferred_model, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                ),
                "job_id",
                "index",
            )
            .first()
        )
        if shard is None:
            return None
        shard.status = JobStatus.RUNNING
        shard.attempts += 1
        shard.worker = worker
        shard.heartbeat_at = shard.started_at = now
        shard.save(update_fields=["status", "attempts", "worker", "heartbeat_at", "started_at"])
        Job.objects.filter(pk=shard.job_id).update(heartbeat_at=now)
    return JobShard.objects.select_related("job").get(pk=shard.pk)


def _held(shard: JobShard) -> Any:
    """The shard's row as long as this claim of it holds it (not taken over since)."""
    return JobShard.objects.filter(pk=shard.pk, status=JobStatus.RUNNING, attempts=shard.attempts)


def shard_beat(shard: JobShard) -> bool:
    """Refresh the heartbeat of a shard and its job; False once the shard is no longer ours."""
    now = timezone.now()
    if not _held(shard).update(heartbeat_at=now):
        return False
    Job.objects.filter(pk=shard.job_id, status=JobStatus.RUNNING).update(heartbeat_at=now)
    return True


@transaction.atomic
def shard_succeed(shard: JobShard, stats: list[dict[str, Any]]) -> bool:
    """Mark the shard done and count its items into the job's progress, once (clearing the
    job's phase, as a progress report does)."""
    now = timezone.now()
    if not _held(shard).update(status=JobStatus.SUCCEEDED, stats=stats, finished_at=now, error=""):
        return False
    Job.objects.filter(pk=shard.job_id).update(
        done=F("done") + len(shard.items), heartbeat_at=now, phase=""
    )
    return True


def shard_cancel(shard: JobShard) -> None:
    """Stop the shard for good: its job was cancelled while a worker did it."""
    _held(shard).update(status=JobStatus.CANCELLED, finished_at=timezone.now())


def shard_retry_later(shard: JobShard, error: str) -> float | None:
    """Put the shard back after a retryable error, with a delay doubling with each attempt;
    None (and the job failed) when it has had all its attempts."""
    if shard.attempts >= MAX_SHARD_ATTEMPTS:
        shard_fail(shard, error)
        return None
    delay = min(2.0 ** (shard.attempts - 1), MAX_RETRY_DELAY_S)
    _held(shard).update(
        status=JobStatus.QUEUED,
        retry_at=timezone.now() + timedelta(seconds=delay),
        error=f"retrying after: {error}",
    )
    return delay


@transaction.atomic
def shard_fail(shard: JobShard, error: str) -> None:
    """Fail the shard and its job, saying which shard, after how many attempts, and why."""
    JobShard.objects.filter(pk=shard.pk).update(
        status=JobStatus.FAILED, error=error, finished_at=timezone.now()
    )
    count = JobShard.objects.filter(job_id=shard.job_id).count()
    attempts = f"{shard.attempts} attempt{'s' if shard.attempts != 1 else ''}"
    job_fail(
        Job(pk=shard.job_id),
        f"shard {shard.index + 1} of {count} ({len(shard.items)} items) failed after "
        f"{attempts}: {error}",
    )


def shards_fail_exhausted() -> list[int]:
    """Fail the jobs of shards whose worker stopped on each of their attempts; their ids."""
    now = timezone.now()
    exhausted = JobShard.objects.filter(
        status=JobStatus.RUNNING,
        heartbeat_at__lt=now - stale_after(),
        attempts__gte=MAX_SHARD_ATTEMPTS,
        job__status=JobStatus.RUNNING,
    )
    failed = []
    for shard in exhausted:
        shard_fail(
            shard,
            f"its worker stopped (no heartbeat for {stale_after().total_seconds():g} s, "
            f"last {shard.worker or 'unknown'}) on each of its {shard.attempts} attempts",
        )
        failed.append(shard.job_id)
    return failed


def shards_all_succeeded(job: Job) -> bool:
    return not JobShard.objects.filter(job=job).exclude(status=JobStatus.SUCCEEDED).exists()


def shard_stats(job: Job) -> list[dict[str, Any]]:
    """What the runner reported for each chunk, in item order."""
    rows = JobShard.objects.filter(job=job).order_by("index").values_list("stats", flat=True)
    return [entry for stats in rows for entry in stats]


@dataclass(frozen=True)
class Sweep:
    """What a queue needs so that no job waits for a message the broker lost."""

    jobs: list[int]  # jobs to enqueue again: queued, or running with no sign of life
    shards: int  # shards waiting for a worker


def sweep(queue: str, kinds: Iterable[str], *, grace_s: float) -> Sweep:
    """The work of `queue` nobody is doing: queued jobs, jobs whose heartbeat stopped (the task
    claims them again, or cancels them), and claimable shards. Asked only when the queue holds
    no message, so that everything listed here is waiting for a message that is not there;
    work younger than `grace_s` is left alone, as its message may be on its way."""
    now = timezone.now()
    settled = now - timedelta(seconds=grace_s)
    shards_fail_exhausted()
    idle = Q(status=JobStatus.QUEUED, created_at__lt=settled) | Q(
        status=JobStatus.RUNNING, heartbeat_at__lt=now - stale_after()
    )
    jobs = list(Job.objects.filter(idle, kind__in=list(kinds)).values_list("pk", flat=True))
    shards = JobShard.objects.filter(
        _claimable(now), queue=queue, job__started_at__lt=settled
    ).count()
    return Sweep(jobs=jobs, shards=shards)
