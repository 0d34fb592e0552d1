"""Thin tasks: claim the job row, call its runner, record the outcome.

The tasks are sent by name (annotation/jobs/services.py RUN_JOB, RUN_SHARD): the web process
never imports this module. A worker imports it once Django is set up (Celery's Django fix-up),
so it imports the job services at the top.
"""

import logging

from celery import Task, shared_task

from annotation.jobs.boundary import check_stored_inputs
from annotation.jobs.kinds import kind_of
from annotation.jobs.models import Job
from annotation.jobs.params import job_params
from annotation.jobs.runners import runner_for
from annotation.jobs.services import (
    RUN_JOB,
    RUN_SHARD,
    JobCancelled,
    beat,
    creator_refusal,
    job_claim,
    job_fail,
    job_finish,
    job_mark_cancelled,
    job_requeue,
    running,
)
from workers.running import MAX_RETRIES, error_summary, heartbeat, is_transient
from workers.shards import plan, run_next_shard

logger = logging.getLogger(__name__)


@shared_task(
    name=RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_job(self: Task, job_id: int) -> None:
    """Claim the job and run it; a model job is only planned here: its shards are run by
    run_shard on whichever workers are free. The creator and project-boundary checks run here,
    once per job, before anything is planned or read."""
    job = job_claim(job_id)
    if job is None:
        state = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
        logger.info("job %s is not claimable (status %s)", job_id, state or "missing")
        return
    refusal = creator_refusal(job)  # roles may have changed since the job was queued
    if refusal is not None:
        logger.warning("job %s: %s", job_id, refusal)
        job_fail(job, refusal)
        return
    try:
        # Parameters that no longer parse, or name another project's rows, fail the job
        # here with a message, before the runner (or the shard planner) reads anything.
        check_stored_inputs(job, job_params(job))
        if kind_of(job.kind).sharded:
            plan(job)
            return
        with heartbeat(lambda: beat(job.pk), f"job-{job.pk}"), running(job):
            result = runner_for(job.kind)(job)
    except JobCancelled:
        job_mark_cancelled(job)
        return
    except Exception as error:
        if is_transient(error) and self.request.retries < MAX_RETRIES:
            logger.warning("job %s: transient error, retrying: %s", job_id, error)
            job_requeue(job, error_summary(error))
            raise self.retry(countdown=2**self.request.retries, max_retries=MAX_RETRIES) from error
        logger.exception("job %s failed", job_id)
        job_fail(job, error_summary(error))
        return
    job_finish(job, result=result)


# The models of the last shard this worker ran: it takes shards of jobs loading them first.
_last_model_key = ""


@shared_task(
    name=RUN_SHARD, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_shard(self: Task, queue: str) -> None:
    """Take the next shard of `queue` nobody is doing, if any, and do it.

    The message is only a wake-up: the database says which shard (annotation/jobs/shards.py),
    so a duplicate message does nothing and a lost one is replaced by the sweep."""
    global _last_model_key
    _last_model_key = run_next_shard(
        queue, worker=self.request.hostname or "unknown", preferred_model=_last_model_key
    )
