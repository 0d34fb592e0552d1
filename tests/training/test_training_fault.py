"""A worker SIGKILLed during training (SFT, GRPO): the next worker takes the job again, resumes
from the last complete checkpoint and ends with as many optimizer steps as an uninterrupted
run."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from algorithms.training import Hyperparameters, grpo_optimizer_steps, optimizer_steps
from annotation.jobs.models import JobStatus
from annotation.training.models import ModelLineage, TrainingLogEntry
from annotation.training.services import start_training_job
from tests.factories import ProjectFactory
from tests.support.models import tiny_model
from tests.support.training import (
    GRPO_FAST,
    base_config,
    export_now,
    prm_config,
    start_grpo,
    training_project,
)
from tests.support.worker import WorkerProcess, finished, purge_broker, wait_until
from workers.training.run import checkpoints_of, is_complete

pytestmark = [pytest.mark.worker, pytest.mark.models]

STALE_SECONDS = 3.0
HYPERPARAMETERS = {
    "batch_size": 1,
    "gradient_accumulation": 1,
    "epochs": 8.0,
    "save_steps": 4,
    "logging_steps": 1,
    "learning_rate": 1e-4,
    "max_length": 256,
}


@pytest.fixture
def env(settings, tmp_path: Path) -> Iterator[dict[str, str]]:
    tiny_model("lm")
    purge_broker()
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STEPWISE_MODEL_STORE = tmp_path / "models"
    yield {"MEDIA_ROOT": str(settings.MEDIA_ROOT), "STEPWISE_MODEL_STORE": str(tmp_path / "models")}


def test_a_killed_run_resumes_from_its_checkpoint_with_the_steps_of_an_uninterrupted_run(
    transactional_db: None, env: dict[str, str], tmp_path: Path
) -> None:
    # given an SFT job of 72 one-row steps, a checkpoint every 4, running on a first worker
    project = ProjectFactory()
    training_project(project)
    journeys = export_now(project, "sft-journey")
    base = base_config(project)

    def start(name: str):  # type: ignore[no-untyped-def]
        return start_training_job(
            project=project,
            user=None,
            method="sft",
            export=journeys,
            base=base,
            name=name,
            hyperparameters=HYPERPARAMETERS,
        )

    checkpoints = Path(env["STEPWISE_MODEL_STORE"])
    first = WorkerProcess(tmp_path, stale_seconds=STALE_SECONDS, env=env).start()
    try:
        job = start("resumed")
        run_checkpoints = checkpoints / f"job-{job.pk}" / "checkpoints"

        def checkpointed_midway() -> bool:
            job.refresh_from_db()
            assert not job.is_finished, f"{job.status}: {job.error}\n{first.log()[-3000:]}"
            return any(map(is_complete, checkpoints_of(run_checkpoints))) and job.done < 60

        wait_until(
            checkpointed_midway, 300, what="a checkpoint", check=first.check_alive, interval_s=0.02
        )
        # when it is killed mid-training
        first.kill()
    finally:
        first.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    killed_at = job.done
    assert 4 <= killed_at < 72

    # and another worker starts
    second = WorkerProcess(tmp_path, stale_seconds=STALE_SECONDS, env=env).start()
    try:
        job = finished(job, second)
        # an uninterrupted run of the same data, model and hyperparameters, for comparison
        uninterrupted = finished(start("uninterrupted"), second)
    finally:
        second.stop()

    # then the job took the steps its rows need, like the uninterrupted run
    expected = optimizer_steps(9, Hyperparameters(**HYPERPARAMETERS))
    assert (job.status, job.attempts, expected) == (JobStatus.SUCCEEDED, 2, 72)
    assert job.result["global_step"] == uninterrupted.result["global_step"] == expected
    assert (job.done, job.total) == (72, 72)
    # every step is logged once, and the second attempt started from a checkpoint, not step 0
    log = TrainingLogEntry.objects.filter(job=job).order_by("step")
    assert list(log.values_list("step", flat=True)) == list(range(1, 73))
    resumed_from = log.last().attempt_start_step
    assert resumed_from % 4 == 0
    assert 4 <= resumed_from <= killed_at


GRPO_HYPERPARAMETERS = {
    **GRPO_FAST,
    "gradient_accumulation": 1,  # one problem (a group of four completions) per step
    "max_new_tokens": 8,
    "epochs": 4.0,
    "save_steps": 3,
}


def test_a_killed_grpo_run_resumes_from_its_checkpoint_with_the_steps_of_an_uninterrupted_run(
    transactional_db: None, env: dict[str, str], tmp_path: Path
) -> None:
    # given a GRPO job of 36 steps (nine problems, one per step, four epochs), a checkpoint
    # every 3, rewarded by the answer check and a PRM, running on a first worker
    project = ProjectFactory()
    training_project(project)
    tiny_model("math-shepherd")
    base, prm = base_config(project), prm_config(project)
    hp = Hyperparameters.for_method("grpo", GRPO_HYPERPARAMETERS)
    expected = grpo_optimizer_steps(9, hp)

    def start(name: str):  # type: ignore[no-untyped-def]
        return start_grpo(
            project, name, base=base, reward_model=prm, hyperparameters=GRPO_HYPERPARAMETERS
        )

    checkpoints = Path(env["STEPWISE_MODEL_STORE"])
    first = WorkerProcess(tmp_path, stale_seconds=STALE_SECONDS, env=env).start()
    try:
        job = start("resumed")
        run_checkpoints = checkpoints / f"job-{job.pk}" / "checkpoints"

        def checkpointed_midway() -> bool:
            job.refresh_from_db()
            assert not job.is_finished, f"{job.status}: {job.error}\n{first.log()[-3000:]}"
            return any(map(is_complete, checkpoints_of(run_checkpoints))) and job.done < 30

        wait_until(
            checkpointed_midway, 300, what="a checkpoint", check=first.check_alive, interval_s=0.02
        )
        # when it is killed mid-training
        first.kill()
    finally:
        first.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    killed_at = job.done
    assert 3 <= killed_at < expected

    # and another worker starts
    second = WorkerProcess(tmp_path, stale_seconds=STALE_SECONDS, env=env).start()
    try:
        job = finished(job, second)
        uninterrupted = finished(start("uninterrupted"), second)
    finally:
        second.stop()

    # then the job took the steps its problems need, like the uninterrupted run
    assert (job.status, job.attempts, expected) == (JobStatus.SUCCEEDED, 2, 36), job.error
    assert job.result["global_step"] == uninterrupted.result["global_step"] == expected
    assert (job.done, job.total) == (36, 36)
    # every step is logged once, with its rewards, and the second attempt started from a
    # checkpoint, not from step 0
    log = TrainingLogEntry.objects.filter(job=job).order_by("step")
    assert list(log.values_list("step", flat=True)) == list(range(1, 37))
    assert not log.filter(reward__isnull=True).exists()
    resumed_from = log.last().attempt_start_step
    assert resumed_from % 3 == 0
    assert 3 <= resumed_from <= killed_at
    # and the policy is registered once, naming its PRM
    assert ModelLineage.objects.get(job=job).reward_model == prm
