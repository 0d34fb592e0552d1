"""The Celery app. Workers: `celery -A workers.celery_app worker -Q default` for light jobs
and `-Q gpu --pool solo` (one process per GPU) for model jobs.

When a worker is ready it enqueues every unfinished job again (see jobs_recover): a job whose
worker was killed goes on once its heartbeat is stale, and job_claim keeps duplicates idle.
Then it sweeps now and then for jobs and shards whose message the broker lost
(workers/sweeper.py, which every worker imports: `include`).

The web process loads this app (annotation/__init__.py) and sends tasks by name with it; only
workers import the tasks and what they run, once Django is set up.
"""

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from algorithms.log_safety import escape_logs_of

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")

app = Celery("stepwise", include=["workers.sweeper"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])

logger = logging.getLogger(__name__)


@after_setup_logger.connect
@after_setup_task_logger.connect
def escape_control_characters(logger: logging.Logger, **_: Any) -> None:
    """Celery replaces the root logger's handlers (those settings.LOGGING installed): give
    its own the filter that escapes control characters in messages and exceptions."""
    escape_logs_of(logger)
