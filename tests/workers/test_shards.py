"""One model job across several real worker processes: its shards go to whichever worker is
free, and a cancel stops every shard. The model is an OpenAI-compatible server of the test's
own whose answers the test holds, so that it knows which work is in a worker's hands."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from annotation.jobs.models import Job, JobShard, JobStatus
from annotation.jobs.services import job_cancel_request
from annotation.problems.models import Problem, Trace
from tests.factories import ProjectFactory
from tests.support.data import endpoint_sample_job, make_problems
from tests.support.endpoints import LOOPBACK_ENV
from tests.support.worker import WorkerProcess, finished, purge_broker, wait_until
from workers.testing.fake_openai import FakeOpenAIServer

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("loopback_endpoints")]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(tokens=8) as fake:
        yield fake


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    purge_broker()
    processes = [
        WorkerProcess(tmp_path, stale_seconds=3, env=LOOPBACK_ENV).launch() for _ in range(2)
    ]
    try:
        yield [process.wait_ready() for process in processes]
    finally:
        for process in processes:
            process.stop()


def sample_job(problems: list[Problem], base_url: str, n: int = 2) -> Job:
    return endpoint_sample_job(problems, base_url, n)


def expected_keys(job: Job, problems: list[Problem], n: int = 2) -> list[str]:
    return sorted(f"job{job.pk}:p{p.pk}:{i}" for p in problems for i in range(n))


def test_eight_shards_of_one_job_are_processed_by_both_workers(
    transactional_db: None, server: FakeOpenAIServer, workers: list[WorkerProcess]
) -> None:
    # given a job of eight one-problem chunks, whose answers the server holds
    problems = make_problems(ProjectFactory(), 8)
    server.hold()
    job = sample_job(problems, server.base_url)

    # when both workers hold a shard each, and the server answers again
    wait_until(lambda: server.in_flight == 2, 120, what="a shard in each worker's hands")
    server.release()
    job = finished(job, workers[0])

    # then the eight shards succeeded, done by both workers, with each output once
    shards = list(JobShard.objects.filter(job=job).order_by("index"))
    assert [(s.items, s.status, s.attempts) for s in shards] == [
        ([p.pk], JobStatus.SUCCEEDED, 1) for p in problems
    ]
    assert {s.worker for s in shards} == {w.name for w in workers}
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 8, 8)
    keys = Trace.objects.filter(job=job).values_list("external_id", flat=True)
    assert sorted(keys) == expected_keys(job, problems)
    assert job.result["traces"] == 16


def test_cancel_stops_every_shard(
    transactional_db: None, server: FakeOpenAIServer, workers: list[WorkerProcess]
) -> None:
    # given a job of eight shards, two of them in the workers' hands
    problems = make_problems(ProjectFactory(), 8)
    server.hold()
    job = sample_job(problems, server.base_url)
    wait_until(lambda: server.in_flight == 2, 120, what="a shard in each worker's hands")

    # when it is cancelled, and then the two shards in progress get their answers
    job_cancel_request(job)
    server.release()
    job = finished(job, workers[0])

    # then the two shards in progress finished, and no other shard ran
    assert job.status == JobStatus.CANCELLED
    shards = JobShard.objects.filter(job=job)
    done = list(shards.filter(status=JobStatus.SUCCEEDED).values_list("items", flat=True))
    assert len(done) == 2
    assert shards.filter(status=JobStatus.CANCELLED).count() == 6
    assert job.done == 2
    keys = Trace.objects.filter(job=job).values_list("external_id", flat=True)
    assert sorted(keys) == sorted(f"job{job.pk}:p{pid}:{i}" for [pid] in done for i in range(2))
    assert server.requests == 2


def test_a_shard_is_retried_after_a_retryable_error_only(
    transactional_db: None, server: FakeOpenAIServer, workers: list[WorkerProcess]
) -> None:
    # given an endpoint that is unavailable once (503), and a job of one shard
    server.fail(503)
    retried = finished(sample_job(make_problems(ProjectFactory(), 1), server.base_url), workers[0])
    # and an endpoint that rejects a request once (400)
    server.fail(400)
    rejected = sample_job(make_problems(ProjectFactory(), 1), server.base_url)

    # when the second job ends
    wait_until(lambda: Job.objects.get(pk=rejected.pk).is_finished, 120, what="the second job")
    rejected.refresh_from_db()

    # then the first job's shard was done again and the job succeeded; the second failed at
    # once, saying which shard failed and why
    assert (retried.status, retried.result["traces"]) == (JobStatus.SUCCEEDED, 2)
    assert JobShard.objects.get(job=retried).attempts == 2
    assert rejected.status == JobStatus.FAILED
    assert rejected.error.startswith(
        "shard 1 of 1 (1 items) failed after 1 attempt: "
        "OpenAI-compatible endpoint rejected the request (400)"
    )
    assert JobShard.objects.get(job=rejected).status == JobStatus.FAILED
    assert Trace.objects.filter(job=rejected).count() == 0
