"""Thin tasks: claim the job row, call its runner, record the outcome."""

import logging

from celery import Task, shared_task

logger = logging.getLogger(__name__)


MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self: Task, job_id: int) -> None:
    from annotation.jobs.runners import runner_for
    from annotation.jobs.services import (
        JobCancelled,
        claim_job,
        fail_job,
        finish_job,
        mark_cancelled,
        requeue_job,
    )

    job = claim_job(job_id)
    if job is None:
        logger.info("job %s is not claimable (finished, cancelled or running elsewhere)", job_id)
        return
    try:
        result = runner_for(job.kind)(job)
    except JobCancelled:
        mark_cancelled(job)
        return
    except Exception as error:
        if getattr(error, "retryable", False) and self.request.retries < MAX_RETRIES:
            # Only errors that say a retry can help (a model server down, a lost connection).
            requeue_job(job, str(error))
            raise self.retry(countdown=2**self.request.retries) from error
        logger.exception("job %s failed", job_id)
        fail_job(job, str(error) or type(error).__name__)
        return
    finish_job(job, result=result)
