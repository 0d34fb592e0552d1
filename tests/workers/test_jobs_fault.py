"""Faults in the middle of a sharded job, with real processes: the broker (Redis, RabbitMQ) or
PostgreSQL restarted, a worker SIGKILLed holding a shard. Each job ends succeeded with exactly
its expected outputs, none lost and none twice.

The servers restarted are private ones each test starts on free ports (tests/support/services),
never the machine's shared ones. The model is an OpenAI-compatible server of the test's own
that lets the first shards through and then holds the answers, so the fault always strikes
while shards are in the workers' hands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from annotation.jobs.models import Job, JobShard, JobStatus
from annotation.problems.models import Problem, Trace, TraceStep
from tests.factories import ProjectFactory
from tests.support.data import endpoint_sample_job, make_problems
from tests.support.endpoints import LOOPBACK_ENV
from tests.support.services import (
    PrivatePostgres,
    PrivateRabbitMQ,
    PrivateRedis,
    using_broker,
    using_database,
)
from tests.support.worker import BASE_DIR, WorkerProcess, finished, purge_broker, wait_until
from workers.testing.fake_openai import FakeOpenAIServer

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("loopback_endpoints")]

STALE_SECONDS = 3.0
PROBLEMS = 12
SAMPLES = 2
ANSWERED_BEFORE_THE_FAULT = 4


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(tokens=8) as fake:
        yield fake


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path


def start_workers(log_dir: Path, count: int, **env: str) -> list[WorkerProcess]:
    processes = [
        WorkerProcess(log_dir, stale_seconds=STALE_SECONDS, env={**LOOPBACK_ENV, **env}).launch()
        for _ in range(count)
    ]
    return [process.wait_ready() for process in processes]


def stop_all(workers: list[WorkerProcess]) -> None:
    for worker in workers:
        worker.stop()


def sample_job(problems: list[Problem], base_url: str) -> Job:
    return endpoint_sample_job(problems, base_url, SAMPLES)


def run_through(
    server: FakeOpenAIServer,
    workers: list[WorkerProcess],
    fault: Callable[[], None],
) -> tuple[Job, list[Problem]]:
    """A job of twelve one-problem shards: four are answered, then each worker's next shard
    is held while `fault` strikes; then the answers flow again until the job ends."""
    problems = make_problems(ProjectFactory(), PROBLEMS)
    server.hold(after=ANSWERED_BEFORE_THE_FAULT)
    job = sample_job(problems, server.base_url)
    wait_until(
        lambda: server.in_flight == len(workers),
        180,
        what="a shard held in each worker's hands",
        check=workers[0].check_alive,
    )
    fault()
    server.release()
    return finished(job, workers[-1], timeout_s=300), problems


def assert_exact_outputs(job: Job, problems: list[Problem]) -> None:
    assert (job.status, job.error, job.done, job.total) == (
        JobStatus.SUCCEEDED,
        "",
        PROBLEMS,
        PROBLEMS,
    )
    keys = list(Trace.objects.filter(job=job).values_list("external_id", flat=True))
    assert sorted(keys) == sorted(
        f"job{job.pk}:p{p.pk}:{i}" for p in problems for i in range(SAMPLES)
    )
    assert job.result["traces"] == PROBLEMS * SAMPLES
    # each trace's steps were written once: positions 0..k-1, no position twice
    for trace_id in Trace.objects.filter(job=job).values_list("pk", flat=True):
        positions = list(
            TraceStep.objects.filter(trace_id=trace_id)
            .order_by("position")
            .values_list("position", flat=True)
        )
        assert positions == [0, 1]
    shards = JobShard.objects.filter(job=job)
    assert set(shards.values_list("status", flat=True)) == {JobStatus.SUCCEEDED}


@pytest.mark.parametrize("broker", [PrivateRedis, PrivateRabbitMQ], ids=["redis", "rabbitmq"])
def test_broker_restarted_mid_job(
    broker: type[PrivateRedis | PrivateRabbitMQ],
    transactional_db: None,
    server: FakeOpenAIServer,
    log_dir: Path,
) -> None:
    if broker is PrivateRabbitMQ and not PrivateRabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed")
    # given two workers on a private broker
    private = broker().start()
    workers: list[WorkerProcess] = []
    try:
        with using_broker(private.url):
            workers = start_workers(log_dir, 2, CELERY_BROKER_URL=private.url)
            # when the broker restarts while each worker holds a shard
            job, problems = run_through(server, workers, private.restart)
    finally:
        stop_all(workers)
        private.remove()
    # then the job succeeded with exactly its outputs
    assert_exact_outputs(job, problems)


def test_postgres_restarted_mid_job(
    django_db_blocker: pytest.FixtureRequest, server: FakeOpenAIServer, log_dir: Path
) -> None:
    # given two workers on a private PostgreSQL server
    postgres = PrivatePostgres().create()
    workers: list[WorkerProcess] = []
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": postgres.url},
            check=True,
        )
        purge_broker()
        with django_db_blocker.unblock(), using_database(postgres.url):  # type: ignore[attr-defined]
            workers = start_workers(log_dir, 2, DATABASE_URL=postgres.url)

            def restart() -> None:
                postgres.restart()
                connection.close()  # this process's connection was cut too

            # when PostgreSQL restarts while each worker holds a shard
            job, problems = run_through(server, workers, restart)
            # then the job succeeded with exactly its outputs; the two shards in the workers'
            # hands were done again
            assert_exact_outputs(job, problems)
            attempts = sorted(JobShard.objects.filter(job=job).values_list("attempts", flat=True))
            assert attempts == [1] * (PROBLEMS - 2) + [2, 2]
    finally:
        stop_all(workers)
        postgres.remove()


def test_worker_killed_mid_shard_with_two_others_running(
    transactional_db: None, server: FakeOpenAIServer, log_dir: Path
) -> None:
    # given three workers
    purge_broker()
    workers = start_workers(log_dir, 3)
    victim = workers[0]
    held: dict[str, JobShard] = {}

    def kill_victim() -> None:
        held["shard"] = JobShard.objects.get(status=JobStatus.RUNNING, worker=victim.name)
        victim.kill()

    try:
        # when one of them is SIGKILLed while it holds a shard
        job, problems = run_through(server, workers, kill_victim)
    finally:
        stop_all(workers)
    # then the job succeeded with exactly its outputs, the shard taken over by another worker
    assert_exact_outputs(job, problems)
    shard = JobShard.objects.get(pk=held["shard"].pk)
    assert shard.attempts == 2
    assert shard.worker in {w.name for w in workers[1:]}
    others = JobShard.objects.filter(job=job).exclude(pk=shard.pk)
    assert set(others.values_list("attempts", flat=True)) == {1}
