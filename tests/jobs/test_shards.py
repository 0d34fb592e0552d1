"""The shard life cycle on the real database: claims, takeover of abandoned shards, progress
counted once, retries, and failures that say what happened."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.jobs.models import Job, JobKind, JobShard, JobStatus
from annotation.jobs.services import job_cancel_request
from annotation.jobs.shards import (
    MAX_SHARD_ATTEMPTS,
    model_key,
    shard_claim,
    shard_retry_later,
    shard_succeed,
    shards_fail_exhausted,
    shards_plan,
)
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def running_job(items: list[int], chunk_size: int = 1, model: str = "/models/a") -> Job:
    job = Job.objects.create(
        project=ProjectFactory(),
        kind=JobKind.SAMPLE,
        status=JobStatus.RUNNING,
        params={"model": {"kind": "vllm", "path_or_endpoint": model}},
        started_at=timezone.now() - timedelta(hours=1),
    )
    shards_plan(job, items, chunk_size)
    return job


def abandon(shard: JobShard) -> None:
    JobShard.objects.filter(pk=shard.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def test_planning_twice_adds_no_shard_and_sets_the_total() -> None:
    # given
    job = running_job([1, 2, 3], chunk_size=2)
    # when
    waiting = shards_plan(job, [1, 2, 3], 2)
    # then
    job.refresh_from_db()
    assert waiting == 2
    assert job.total == 3
    assert list(JobShard.objects.filter(job=job).values_list("index", "items")) == [
        (0, [1, 2]),
        (1, [3]),
    ]


def test_claims_take_each_shard_once_preferring_the_model_loaded() -> None:
    # given an older job on model a and a newer one on model b
    older = running_job([1, 2], model="/models/a")
    newer = running_job([3], model="/models/b")
    b = model_key(newer.params)
    # when a worker that has model b loaded claims three times, and then once more
    claims = [shard_claim(queue="gpu", worker="w1", preferred_model=b) for _ in range(3)]
    last = shard_claim(queue="gpu", worker="w1", preferred_model=b)
    # then it took b's shard first, then a's in order, and then there was none left
    assert [(c.job_id, c.index) for c in claims if c] == [
        (newer.pk, 0),
        (older.pk, 0),
        (older.pk, 1),
    ]
    assert last is None
    assert {c.attempts for c in claims if c} == {1}


def test_an_abandoned_shard_is_taken_over_and_counted_once() -> None:
    # given a shard whose worker stopped beating
    job = running_job([1, 2], chunk_size=2)
    first = shard_claim(queue="gpu", worker="w1")
    assert first is not None
    abandon(first)
    # when another worker takes it, and both then finish it
    second = shard_claim(queue="gpu", worker="w2")
    assert second is not None
    late = shard_succeed(first, [])
    done = shard_succeed(second, [{"chunk": 1}])
    # then only the second claim counted, once
    job.refresh_from_db()
    shard = JobShard.objects.get(job=job)
    assert (late, done) == (False, True)
    assert (shard.worker, shard.attempts, shard.status, shard.stats) == (
        "w2",
        2,
        JobStatus.SUCCEEDED,
        [{"chunk": 1}],
    )
    assert job.done == 2


def test_a_retried_shard_waits_and_its_last_attempt_fails_the_job_with_the_reason() -> None:
    # given a shard that hit a retryable error
    job = running_job([1, 2])
    shard = shard_claim(queue="gpu", worker="w1")
    assert shard is not None
    # when it is put back
    delay = shard_retry_later(shard, "endpoint unavailable")
    # then it waits before anyone may take it again: the next claim takes the other shard
    assert delay == 1.0
    other = shard_claim(queue="gpu", worker="w1")
    assert other is not None and other.index == 1
    # and when its attempts are used up, the job fails saying so
    JobShard.objects.filter(pk=shard.pk).update(
        status=JobStatus.RUNNING, attempts=MAX_SHARD_ATTEMPTS, retry_at=None
    )
    shard.refresh_from_db()
    assert shard_retry_later(shard, "endpoint unavailable") is None
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == ("shard 1 of 2 (1 items) failed after 5 attempts: endpoint unavailable")


def test_a_shard_whose_worker_died_on_every_attempt_fails_the_job() -> None:
    # given a shard abandoned on its last attempt
    job = running_job([1])
    shard = shard_claim(queue="gpu", worker="w1")
    assert shard is not None
    JobShard.objects.filter(pk=shard.pk).update(attempts=MAX_SHARD_ATTEMPTS)
    abandon(shard)
    # when the sweep looks for such shards
    failed = shards_fail_exhausted()
    # then the job failed, saying what happened
    job.refresh_from_db()
    assert failed == [job.pk]
    assert job.status == JobStatus.FAILED
    assert job.error == (
        "shard 1 of 1 (1 items) failed after 5 attempts: its worker stopped (no heartbeat for "
        "120 s, last w1) on each of its 5 attempts"
    )
    assert shard_claim(queue="gpu", worker="w2") is None


def test_cancelling_a_job_with_no_shard_in_progress_cancels_it_and_its_shards_at_once() -> None:
    # given a planned job, one shard done and one abandoned by its worker
    job = running_job([1, 2, 3])
    done = shard_claim(queue="gpu", worker="w1")
    abandoned = shard_claim(queue="gpu", worker="w1")
    assert done is not None and abandoned is not None
    shard_succeed(done, [])
    abandon(abandoned)
    # when
    job_cancel_request(job)
    # then
    assert job.status == JobStatus.CANCELLED
    assert list(JobShard.objects.filter(job=job).values_list("status", flat=True)) == [
        JobStatus.SUCCEEDED,
        JobStatus.CANCELLED,
        JobStatus.CANCELLED,
    ]


def test_a_shard_is_not_run_once_its_jobs_creator_lost_the_role() -> None:
    """Roles are checked again before every shard, not only when the job is planned: a
    researcher demoted while a long job runs stops it at the next shard."""
    from annotation.core.models import Role
    from tests.factories import MembershipFactory, UserFactory
    from workers.shards import run_next_shard

    # given a planned job whose creator is now only an annotator of the project
    job = running_job([1, 2])
    creator = UserFactory(username="was_researcher")
    MembershipFactory(project=job.project, user=creator, role=Role.ANNOTATOR)
    Job.objects.filter(pk=job.pk).update(created_by=creator)
    # when a worker takes the next shard
    run_next_shard("gpu", worker="w1", preferred_model="")
    # then the job fails saying why, and no shard ran
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "was_researcher, who started this job, may no longer" in job.error
    assert not JobShard.objects.filter(job=job, status=JobStatus.SUCCEEDED).exists()
