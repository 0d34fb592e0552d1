"""Thin tasks: claim the job row, call its runner, record the outcome."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Task, shared_task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)


MAX_RETRIES = 5


def is_transient(error: BaseException) -> bool:
    """Errors that say a retry can help: a backend's own verdict, or a lost database link."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return bool(getattr(error, "retryable", False))


def error_summary(error: BaseException) -> str:
    """The error a job's page and API show. A database error's text can quote SQL and the values
    of rows, so users get its kind only; the worker's log has the whole error."""
    if isinstance(error, DatabaseError):
        return f"a database error stopped the job ({type(error).__name__}); see the worker's log"
    return str(error) or type(error).__name__


@contextmanager
def heartbeat(job_id: int) -> Iterator[None]:
    """Beat while the runner works, so a long chunk is not mistaken for a dead worker.

    A killed worker stops beating; after STEPWISE_JOB_STALE_SECONDS its job may be claimed again.
    """
    from annotation.jobs.services import beat

    stop = threading.Event()
    interval = max(settings.STEPWISE_JOB_STALE_SECONDS / 3, 0.2)

    def loop() -> None:
        try:
            while not stop.wait(interval) and beat(job_id):
                pass
        except Exception:  # the runner's own queries will report a broken database
            logger.exception("heartbeat of job %s stopped", job_id)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=loop, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self: Task, job_id: int) -> None:
    from annotation.jobs.boundary import check_stored_inputs
    from annotation.jobs.models import Job
    from annotation.jobs.params import job_params
    from annotation.jobs.runners import runner_for
    from annotation.jobs.services import (
        JobCancelled,
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
        with heartbeat(job.pk), running(job):
            # Parameters that no longer parse, or name another project's rows, fail the job
            # here with a message, before the runner reads anything.
            check_stored_inputs(job, job_params(job))
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
