"""A worker SIGKILLed during training (SFT, GRPO): the next worker takes the job again, resumes
from the last complete checkpoint and ends with as many optimizer steps as an uninterrupted
run takes (optimizer_steps / grpo_optimizer_steps: that an uninterrupted run takes them is
shown by tests/training/test_runs.py and test_grpo.py, so no second run is trained here)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from algorithms.training import Hyperparameters, grpo_optimizer_steps, optimizer_steps
from annotation.jobs.models import Job, JobStatus
from annotation.llm.models import PromptPurpose
from annotation.training.models import ModelLineage, TrainingLogEntry
from annotation.training.services import training_job_start
from tests.factories import ProjectFactory
from tests.support.data import prompt
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
    "epochs": 4.0,
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


def killed_and_resumed(
    start: Callable[[str], Job],
    env: dict[str, str],
    tmp_path: Path,
    *,
    killed_before: int,
    wait_s: float = 300,
) -> tuple[Job, int]:
    """Start a job on a first worker, SIGKILL it once a checkpoint is complete (before step
    `killed_before`) and let a second worker take the job again; the job and the step the
    first worker was killed at."""
    checkpoints = Path(env["STEPWISE_MODEL_STORE"])
    first = WorkerProcess(tmp_path, stale_seconds=STALE_SECONDS, env=env).start()
    try:
        job = start("resumed")
        run_checkpoints = checkpoints / f"job-{job.pk}" / "checkpoints"

        def checkpointed_midway() -> bool:
            job.refresh_from_db()
            assert not job.is_finished, f"{job.status}: {job.error}\n{first.log()[-3000:]}"
            complete = any(map(is_complete, checkpoints_of(run_checkpoints)))
            return complete and job.done < killed_before

        wait_until(
            checkpointed_midway,
            wait_s,
            what="a checkpoint",
            check=first.check_alive,
            interval_s=0.02,
        )
        first.kill()
    finally:
        first.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    killed_at = job.done
    second = WorkerProcess(tmp_path, stale_seconds=STALE_SECONDS, env=env).start()
    try:
        job = finished(job, second, wait_s)
    finally:
        second.stop()
    return job, killed_at


def logged_once_after_resuming(job: Job, steps: int, save_steps: int, killed_at: int) -> None:
    """Every step is logged once, and the second attempt started from a checkpoint."""
    log = TrainingLogEntry.objects.filter(job=job).order_by("step")
    assert list(log.values_list("step", flat=True)) == list(range(1, steps + 1))
    resumed_from = log.last().attempt_start_step
    assert resumed_from % save_steps == 0
    assert save_steps <= resumed_from <= killed_at


def test_a_killed_run_resumes_from_its_checkpoint_with_the_steps_of_an_uninterrupted_run(
    transactional_db: None, env: dict[str, str], tmp_path: Path
) -> None:
    # given an SFT job of 36 one-row steps, a checkpoint every 4, running on a first worker
    project = ProjectFactory()
    training_project(project)
    journeys = export_now(project, "sft-journey")
    base = base_config(project)

    def start(name: str):  # type: ignore[no-untyped-def]
        return training_job_start(
            project=project,
            user=None,
            method="sft",
            export=journeys,
            base=base,
            name=name,
            hyperparameters=HYPERPARAMETERS,
        )

    # when it is killed mid-training (20 steps after the first checkpoint leave the test time
    # to see it), and another worker takes the job again
    job, killed_at = killed_and_resumed(start, env, tmp_path, killed_before=24)
    assert 4 <= killed_at < 36

    # then the job took the steps its rows need, as many as an uninterrupted run takes
    expected = optimizer_steps(9, Hyperparameters(**HYPERPARAMETERS))
    assert (job.status, job.attempts, expected) == (JobStatus.SUCCEEDED, 2, 36)
    assert job.result["global_step"] == expected
    assert (job.done, job.total) == (36, 36)
    logged_once_after_resuming(job, 36, 4, killed_at)


GRPO_HYPERPARAMETERS = {
    **GRPO_FAST,
    "gradient_accumulation": 1,  # one problem (a group of four completions) per step
    "max_new_tokens": 8,
    "epochs": 1.0,
    "save_steps": 3,
}
GRPO_WAIT_S = 900  # a GRPO step samples, scores and trains: slow on a loaded machine


def test_a_killed_grpo_run_resumes_from_its_checkpoint_with_the_steps_of_an_uninterrupted_run(
    transactional_db: None, env: dict[str, str], tmp_path: Path
) -> None:
    # given a GRPO job of 9 steps (nine problems, one per step), a checkpoint every 3,
    # rewarded by the answer check and a PRM, running on a first worker
    project = ProjectFactory()
    training_project(project)
    tiny_model("math-shepherd")
    prm = prm_config(project)
    given = {
        "base": base_config(project),
        "reward_model": prm,
        "prompt": prompt(project, PromptPurpose.SAMPLE),
        "export": export_now(project, "sft-journey"),
        "hyperparameters": GRPO_HYPERPARAMETERS,
    }
    expected = grpo_optimizer_steps(9, Hyperparameters.for_method("grpo", GRPO_HYPERPARAMETERS))

    def start(name: str):  # type: ignore[no-untyped-def]
        return start_grpo(project, name, **given)

    # when it is killed mid-training, and another worker takes the job again
    job, killed_at = killed_and_resumed(start, env, tmp_path, killed_before=7, wait_s=GRPO_WAIT_S)
    assert 3 <= killed_at < expected

    # then the job took the steps its problems need, as many as an uninterrupted run takes
    assert (job.status, job.attempts, expected) == (JobStatus.SUCCEEDED, 2, 9), job.error
    assert job.result["global_step"] == expected
    assert (job.done, job.total) == (9, 9)
    logged_once_after_resuming(job, 9, 3, killed_at)
    assert not TrainingLogEntry.objects.filter(job=job, reward__isnull=True).exists()
    # and the policy is registered once, naming its PRM
    assert ModelLineage.objects.get(job=job).reward_model == prm
