"""A job row whose stored parameters were written to name another project's rows fails in a
real worker with a message, reading and writing none of them (tests/security/
test_job_boundaries.py refuses the same inputs in the API, the services and the runners).
Its own module: these tests commit their rows for the worker, and test_job_boundaries.py keeps
its rows in a transaction open for the whole module."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from annotation.core.models import Role
from annotation.evaluation.models import Rollout
from annotation.grading.models import Grade
from annotation.jobs.models import Job, JobShard, JobStatus
from annotation.jobs.params import ModelSnapshot
from annotation.problems.models import Trace
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.security.test_job_boundaries import SERVICE, World, inputs_of
from tests.support.worker import WorkerProcess, wait_until


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Export files in a temporary media root."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    return shared_worker


def _stored_with_b(world: World, start: str, field: str, value: Any) -> Job:
    """A job of A started normally whose stored `field` is rewritten before it is enqueued."""
    with transaction.atomic():
        job = SERVICE[start](world.a, world.user)
        Job.objects.filter(pk=job.pk).update(params={**job.params, field: value})
    return job


def _failed(job: Job, worker: WorkerProcess) -> Job:
    def finished() -> bool:
        job.refresh_from_db()
        return bool(job.is_finished)

    wait_until(finished, 120, what=f"job {job.pk} to finish", check=worker.check_alive)
    return job


@pytest.mark.worker
@pytest.mark.parametrize(
    ("start", "field", "swap", "noun"),
    [
        ("sample", "problem_ids", "problem", "problem"),
        ("score", "trace_ids", "trace", "trace"),
        ("monte_carlo", "trace_ids", "trace", "trace"),
        ("long_thought", "tree_job", "tree_job", "job"),
        ("proposal_critique", "problem_ids", "problem", "problem"),
        ("policy_critic", "critic", "critic", "model"),
    ],
    ids=["sample", "score", "monte_carlo", "long_thought", "proposal_critique", "policy_critic"],
)
def test_a_stored_job_naming_another_projects_rows_fails_in_the_worker(
    worker, transactional_db, start, field, swap, noun
):
    # given
    a, b = ProjectFactory(name="A"), ProjectFactory(name="B")
    user = UserFactory(username="both")
    MembershipFactory(project=a, user=user, role=Role.ADMIN)  # may still run jobs in A
    world = World(inputs_of(a), inputs_of(b), user)
    foreign = getattr(world.b, swap).pk
    value: Any = foreign if field == "tree_job" else [foreign]
    if field == "critic":  # a model snapshot: B's config as A's job would have stored it
        value = {**ModelSnapshot.of(world.b.critic).as_params()}
    # when
    job = _failed(_stored_with_b(world, start, field, value), worker)
    # then
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        f"{field}: {noun} {foreign} belongs to another project; a job reads and writes only "
        "the rows of its own project",
    )
    assert job.attempts == 1  # not retried
    assert JobShard.objects.filter(job=job).count() == 0  # refused before planning
    assert Trace.objects.filter(job=job).count() == 0
    assert Grade.objects.filter(source__job=job).count() == 0
    assert Rollout.objects.filter(job=job).count() == 0
    assert Trace.objects.filter(problem=world.b.problem).count() == 1  # B's own trace only
