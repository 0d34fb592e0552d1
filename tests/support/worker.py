"""A real Celery worker process (solo pool, queues default and gpu) on the test database.

The worker reads what the tests commit, so tests that use it need `transactional_db`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.support.endpoints import LOOPBACK_ENV

BASE_DIR = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def purge_broker() -> None:
    """Drop messages other tests left in the test broker's queues.

    Only the queues (and their priority lists) and the unacked messages go: flushing the
    whole database would also drop kombu's exchange bindings, and a publisher that declared
    them earlier in this process would then send into nothing.
    """
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for pattern in ("default*", "gpu*", "unacked*"):
        keys = list(client.scan_iter(match=pattern))
        if keys:
            client.delete(*keys)


class WorkerProcess:
    def __init__(
        self,
        log_dir: Path,
        *,
        stale_seconds: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        """`env` overrides the worker's environment, e.g. DATABASE_URL or CELERY_BROKER_URL of
        a private server."""
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log_dir / f"{self.name.split('@')[0]}.log"
        self.stale_seconds = stale_seconds
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> WorkerProcess:
        return self.launch().wait_ready(timeout_s)

    def launch(self) -> WorkerProcess:
        """Start the process without waiting for it to be ready (start several at once)."""
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DB_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "STEPWISE_JOB_STALE_SECONDS": str(self.stale_seconds),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        command = [
            str(CELERY),
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            "default,gpu",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "-n",
            self.name,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        with self.log_path.open("ab") as log:
            # Its own session, so that killing the group also kills vLLM's engine processes.
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> WorkerProcess:
        wait_until(
            lambda: f"{self.name} ready." in self.log(),
            timeout_s,
            what=f"worker {self.name} to be ready",
            check=self.check_alive,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise RuntimeError(f"worker exited with {code}:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and everything it started, as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def finished(job: Any, worker: WorkerProcess, timeout_s: float = 300) -> Any:
    """Wait for a job row to reach a final status; fail with the job's error and worker log."""

    def done() -> bool:
        job.refresh_from_db()
        return bool(job.is_finished)

    wait_until(done, timeout_s, what=f"job {job.pk} to finish", check=worker.check_alive)
    assert job.error == "", f"{job.error}\n{worker.log()[-3000:]}"
    return job


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    *,
    what: str,
    check: Callable[[], None] | None = None,
    interval_s: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if check is not None:
            check()
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")


QUEUES = ("default", "gpu")


class SharedWorker:
    """One worker process for all the session's worker tests that need no environment of
    their own (it may reach model endpoints on 127.0.0.1, where the tests' servers listen):
    started at the first use, so that its start and the models it caches (a vLLM
    engine takes about 30 s) are paid once.

    Between the modules that use it, it consumes nothing (Celery's cancel_consumer), since
    other tests enqueue jobs that nobody is meant to run. A module leaves it only once it is
    idle; one still busy after `idle_timeout_s` is stopped and started again for the next.
    """

    def __init__(self, log_dir: Path, idle_timeout_s: float = 60.0) -> None:
        self.log_dir = log_dir
        self.idle_timeout_s = idle_timeout_s
        self.process: WorkerProcess | None = None

    def acquire(self) -> WorkerProcess:
        purge_broker()
        if self.process is None or self.process.process is None or not self.alive():
            self.process = WorkerProcess(self.log_dir, env=LOOPBACK_ENV).start()
        else:
            self._control("add_consumer")
        return self.process

    def release(self) -> None:
        if self.process is None or not self.alive():
            return
        self._control("cancel_consumer")
        try:
            wait_until(self._idle, self.idle_timeout_s, what="the shared worker to be idle")
        except TimeoutError:
            self.stop()
        purge_broker()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def alive(self) -> bool:
        assert self.process is not None and self.process.process is not None
        return self.process.process.poll() is None

    def _control(self, command: str) -> None:
        from celery import current_app

        assert self.process is not None
        for queue in QUEUES:
            replies = getattr(current_app.control, command)(
                queue, destination=[self.process.name], reply=True, timeout=10
            )
            if not replies:
                raise RuntimeError(f"the shared worker did not answer {command}({queue})")

    def _idle(self) -> bool:
        from celery import current_app

        assert self.process is not None
        inspect = current_app.control.inspect(destination=[self.process.name], timeout=2)
        active = inspect.active() or {}  # None when nobody answered
        return bool(active) and not any(active.values())
