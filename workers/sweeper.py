"""Every worker sweeps, now and then, for work that waits for a message the broker lost.

The rows are the truth; messages only wake workers up. A broker that restarts without its
messages (Redis without persistence), a publish that failed while it was down, a worker killed
holding a shard: each leaves rows that no message points at. When a queue holds no message,
the sweep sends one for each such job and shard (annotation/jobs/shards.py `sweep`). A
duplicate is harmless (claims let one worker have a job or a shard), and sending only to an
empty queue keeps the sweeps of many workers from piling messages up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from django.conf import settings
from django.db import close_old_connections, connection
from kombu.exceptions import ChannelError, OperationalError

from annotation.jobs.kinds import kinds
from annotation.jobs.services import RUN_JOB, jobs_recover, send_task
from annotation.jobs.shards import sweep
from workers.shards import wake

logger = logging.getLogger(__name__)

# At most this many wake-ups per queue per sweep; more are sent at the next sweep if needed.
MAX_WAKE_UPS = 1000


def interval() -> float:
    """A quarter of the heartbeat's staleness limit: work waits at most about that long."""
    return max(settings.STEPWISE_JOB_STALE_SECONDS / 4, 0.5)


def queues() -> dict[str, list[str]]:
    """Each queue with the kinds of jobs it runs."""
    by_queue: dict[str, list[str]] = {}
    for kind in kinds().values():
        by_queue.setdefault(kind.queue, []).append(kind.name)
    return by_queue


def waiting_messages(app: Celery, queue: str) -> int:
    """How many messages the queue holds; 0 for a queue the broker does not know (yet)."""
    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1)
        try:
            channel: Any = broker.default_channel  # kombu's stubs leave queue_declare out
            return int(channel.queue_declare(queue=queue, passive=True)[1])
        except ChannelError:
            return 0


def sweep_once(app: Celery) -> dict[str, Any]:
    """One sweep of every queue; what it sent, for the log."""
    sent: dict[str, Any] = {}
    for queue, queue_kinds in queues().items():
        if waiting_messages(app, queue):
            continue
        found = sweep(queue, queue_kinds, grace_s=interval())
        for job_id in found.jobs:
            send_task(RUN_JOB, job_id, queue=queue)
        wake_ups = min(found.shards, MAX_WAKE_UPS)
        wake(queue, wake_ups)
        if found.jobs or wake_ups:
            sent[queue] = {"jobs": found.jobs, "shard_wake_ups": wake_ups}
    return sent


def start(app: Celery) -> threading.Thread:
    """Sweep from a daemon thread of this worker until it exits."""

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(interval()):
            try:
                close_old_connections()
                sent = sweep_once(app)
                if sent:
                    logger.info("sweep sent %s", sent)
            except (OperationalError, ConnectionError, OSError) as error:
                logger.warning("sweep: broker unavailable: %s", error)
            except Exception as error:
                logger.warning("sweep failed: %s", error)
                connection.close()

    thread = threading.Thread(target=loop, name="job-sweeper", daemon=True)
    thread.start()
    return thread


@worker_ready.connect
def recover_unfinished_jobs(sender: Any, **_: Any) -> None:
    """When a worker is ready: enqueue every unfinished job again (annotation/jobs/services.py
    jobs_recover), then sweep now and then. The Celery app has this module imported by every
    worker once Django is set up (workers/celery_app.py, `include`)."""
    start(sender.app)
    try:
        recovered = jobs_recover()
    except Exception:  # a worker with no database yet (first migrate) still starts
        logger.exception("could not look for unfinished jobs")
        return
    if recovered:
        logger.info("enqueued unfinished jobs again: %s", recovered)
