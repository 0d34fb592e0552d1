"""Thin tasks: claim the job row, call its runner, record the outcome."""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from celery import Task, shared_task
from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)


MAX_RETRIES = 5


def is_transient(error: BaseException) -> bool:
    """Errors that say a retry can help: a backend's own verdict, a lost database link, or a
    unique key another worker wrote at the same moment (a shard taken over from a worker that
    was slow, not dead: done again, the chunk finds its outputs there and writes nothing)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, IntegrityError) and getattr(error.__cause__, "sqlstate", "") == "23505":
        return True
    return bool(getattr(error, "retryable", False))


def error_summary(error: BaseException) -> str:
    """The error a job's page and API show. A database error's text can quote SQL and the values
    of rows, so users get its kind only; the worker's log has the whole error."""
    if isinstance(error, DatabaseError):
        return f"a database error stopped the job ({type(error).__name__}); see the worker's log"
    return str(error) or type(error).__name__


@contextmanager
def heartbeat(beat: Callable[[], bool], name: str) -> Iterator[None]:
    """Call `beat` while the runner works, so a long chunk is not mistaken for a dead worker.

    A killed worker stops beating; after STEPWISE_JOB_STALE_SECONDS its work may be taken again.
    A beat that fails (the database restarting) is tried again at the next interval; a beat
    that returns False (the work is no longer ours) ends the beating.
    """
    stop = threading.Event()
    interval = max(settings.STEPWISE_JOB_STALE_SECONDS / 3, 0.2)

    def loop() -> None:
        try:
            while not stop.wait(interval):
                try:
                    if not beat():
                        return
                except (OperationalError, InterfaceError) as error:
                    logger.warning("%s: heartbeat missed: %s", name, error)
                    connection.close()  # a new connection at the next beat
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=loop, name=f"heartbeat-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self: Task, job_id: int) -> None:
    """Claim the job and run it; a model job is only planned here: its shards are run by
    run_shard on whichever workers are free. The creator and project-boundary checks run here,
    once per job, before anything is planned or read."""
    from annotation.jobs.boundary import check_stored_inputs
    from annotation.jobs.models import Job
    from annotation.jobs.params import job_params
    from annotation.jobs.runners import SHARDED, runner_for
    from annotation.jobs.services import (
        JobCancelled,
        beat,
        claim_job,
        creator_refusal,
        fail_job,
        finish_job,
        mark_cancelled,
        requeue_job,
        running,
    )

    job = claim_job(job_id)
    if job is None:
        state = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
        logger.info("job %s is not claimable (status %s)", job_id, state or "missing")
        return
    refusal = creator_refusal(job)  # roles may have changed since the job was queued
    if refusal is not None:
        logger.warning("job %s: %s", job_id, refusal)
        fail_job(job, refusal)
        return
    try:
        # Parameters that no longer parse, or name another project's rows, fail the job
        # here with a message, before the runner (or the shard planner) reads anything.
        check_stored_inputs(job, job_params(job))
        if job.kind in SHARDED:
            from workers.shards import plan

            plan(job)
            return
        with heartbeat(lambda: beat(job.pk), f"job-{job.pk}"), running(job):
            result = runner_for(job.kind)(job)
    except JobCancelled:
        mark_cancelled(job)
        return
    except Exception as error:
        if is_transient(error) and self.request.retries < MAX_RETRIES:
            logger.warning("job %s: transient error, retrying: %s", job_id, error)
            requeue_job(job, error_summary(error))
            raise self.retry(countdown=2**self.request.retries, max_retries=MAX_RETRIES) from error
        logger.exception("job %s failed", job_id)
        fail_job(job, error_summary(error))
        return
    finish_job(job, result=result)


# The models of the last shard this worker ran: it takes shards of jobs loading them first.
_last_model_key = ""


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_shard(self: Task, queue: str) -> None:
    """Take the next shard of `queue` nobody is doing, if any, and do it.

    The message is only a wake-up: the database says which shard (annotation/jobs/shards.py),
    so a duplicate message does nothing and a lost one is replaced by the sweep."""
    from workers.shards import run_next_shard

    global _last_model_key
    _last_model_key = run_next_shard(
        queue, worker=self.request.hostname or "unknown", preferred_model=_last_model_key
    )
