"""Model jobs as shards (annotation/jobs/shards.py holds the rows and their life cycle).

`plan` cuts a claimed job's work into shards and wakes workers; `run_next_shard` takes one
shard, processes its items with the job's runner and, when it was the last one, sums the job up.
"""

from __future__ import annotations

import logging

from django.db import connection
from kombu.exceptions import OperationalError as BrokerError

from annotation.jobs.kinds import queue_for
from annotation.jobs.models import Job, JobShard, JobStatus
from annotation.jobs.runners import Work, work_for
from annotation.jobs.services import (
    RUN_SHARD,
    JobCancelled,
    creator_refusal,
    job_cancel_if_idle,
    job_finish,
    running,
    send_task,
)
from annotation.jobs.shards import (
    shard_beat,
    shard_cancel,
    shard_claim,
    shard_fail,
    shard_retry_later,
    shard_stats,
    shard_succeed,
    shards_all_succeeded,
    shards_plan,
)
from workers.running import error_summary, heartbeat, is_transient

logger = logging.getLogger(__name__)


def wake(queue: str, count: int = 1, *, countdown: float | None = None) -> None:
    """Send `count` wake-ups to the queue's workers: each takes one shard, if one is waiting.
    With the broker down, the shards wait in the database for the sweep to wake workers."""
    try:
        for _ in range(count):
            send_task(RUN_SHARD, queue, queue=queue, countdown=countdown)
    except BrokerError as error:
        logger.warning("could not wake workers of %s (the sweep will): %s", queue, error)


def plan(job: Job) -> None:
    """Cut the job into shards of one chunk each and wake a worker for each waiting shard.
    Planning a job again (its planner died) adds no shard; a job whose shards are all done
    is finished here."""
    work = work_for(job.kind)(job)
    waiting = shards_plan(job, work.items, work.chunk_size)
    wake(queue_for(job.kind), waiting)
    settle(job, work)


def settle(job: Job, work: Work) -> None:
    """After a shard ended: finish the job when every shard succeeded, or cancel it when a
    cancel was asked and no shard is in a worker's hands any more."""
    job.refresh_from_db(fields=["status", "cancel_requested"])
    if job.status != JobStatus.RUNNING:
        return
    if job.cancel_requested:
        job_cancel_if_idle(job.pk)
    elif shards_all_succeeded(job):
        job_finish(job, result=work.result(shard_stats(job)))


def run_next_shard(queue: str, *, worker: str, preferred_model: str) -> str:
    """Do the next shard of the queue, if any; returns the model key to prefer next."""
    shard = shard_claim(queue=queue, worker=worker, preferred_model=preferred_model)
    if shard is None:
        return preferred_model
    job = shard.job
    # Roles may change while a long job runs: the creator's is checked before every shard.
    if (refusal := creator_refusal(job)) is not None:
        logger.warning("job %s: %s", job.pk, refusal)
        shard_fail(shard, refusal)
        return shard.model_key
    try:
        work = work_for(job.kind)(job)
        # running: a model loaded for this shard says so on the job's page (its phase)
        with heartbeat(lambda: shard_beat(shard), f"shard-{shard.pk}"), running(job):
            report = work.process(list(shard.items))
    except JobCancelled:  # a runner that reads the cancel flag inside a shard (between turns)
        shard_cancel(shard)
        job_cancel_if_idle(job.pk)
        return shard.model_key
    except Exception as error:
        _shard_error(shard, error)
        return shard.model_key
    if shard_succeed(shard, [report] if report is not None else []):
        settle(job, work)
    return shard.model_key


def _shard_error(shard: JobShard, error: Exception) -> None:
    """Retry the shard later when a retry can help, fail its job otherwise. If the database is
    gone too, the shard stays as it is: its heartbeat has stopped, so once the database is
    back it counts as abandoned and another worker (or this one) takes it again."""
    message = error_summary(error)  # what users see; the log has the whole error
    connection.close_if_unusable_or_obsolete()
    try:
        if not is_transient(error):
            logger.error(
                "shard %s of job %s failed: %s", shard.index, shard.job_id, error, exc_info=error
            )
            shard_fail(shard, message)
            return
        delay = shard_retry_later(shard, message)
        logger.warning(
            "shard %s of job %s: retrying in %s s: %s", shard.index, shard.job_id, delay, error
        )
        if delay is not None:
            wake(shard.queue, countdown=delay)
    except Exception:
        logger.exception(
            "shard %s of job %s: could not record the error", shard.index, shard.job_id
        )
