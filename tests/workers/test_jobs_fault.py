"""A worker SIGKILLed in the middle of a job: once another worker runs, the job ends with
exactly the expected result rows, none lost and none twice."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from algorithms.steps import split_steps
from annotation.jobs.models import JobStatus
from annotation.llm.models import PromptPurpose
from annotation.llm.services import start_sample_job
from annotation.problems.models import Trace, TraceStep
from tests.factories import ProjectFactory, researcher
from tests.support.data import generator_config, make_problems, prompt
from tests.support.models import tiny_model
from tests.support.worker import WorkerProcess, purge_broker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.models]

STALE_SECONDS = 3.0


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    tiny_model("lm")
    purge_broker()
    yield tmp_path


def test_job_of_a_killed_worker_is_finished_by_the_next_without_duplicates(
    transactional_db: None, log_dir: Path
) -> None:
    # given a sampling job of 8 one-problem chunks, running on a first worker
    project = ProjectFactory()
    problems = make_problems(project, 8)
    first = WorkerProcess(log_dir, stale_seconds=STALE_SECONDS).start()
    try:
        job = start_sample_job(
            project=project,
            user=researcher(project),
            model=generator_config(project, "transformers"),
            prompt=prompt(project, PromptPurpose.SAMPLE),
            problem_ids=[p.pk for p in problems],
            n=3,
            sampling={"max_tokens": 48},
            chunk_size=1,
        )

        def some_done() -> bool:
            job.refresh_from_db()
            return job.done >= 2

        wait_until(some_done, 120, what="two chunks", check=first.check_alive, interval_s=0.02)
        # when it is killed mid-job
        first.kill()
    finally:
        first.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert 2 <= job.done < 8
    written_before = Trace.objects.filter(job=job).count()
    assert written_before % 3 == 0

    # and another worker starts
    second = WorkerProcess(log_dir, stale_seconds=STALE_SECONDS).start()
    try:

        def finished() -> bool:
            job.refresh_from_db()
            return job.is_finished

        wait_until(finished, 120, what="the job to finish", check=second.check_alive)
    finally:
        second.stop()

    # then the job ends with exactly 3 samples per problem, each written once
    assert (job.status, job.error, job.done, job.total) == (JobStatus.SUCCEEDED, "", 8, 8)
    assert job.attempts == 2
    traces = list(Trace.objects.filter(job=job))
    assert sorted(t.external_id for t in traces) == sorted(
        f"job{job.pk}:p{p.pk}:{i}" for p in problems for i in range(3)
    )
    assert job.result["traces"] == 24
    for trace in traces:
        positions = list(
            TraceStep.objects.filter(trace=trace)
            .order_by("position")
            .values_list("position", flat=True)
        )
        assert positions == list(range(len(positions)))
    assert TraceStep.objects.filter(trace__job=job).count() == sum(
        len(split_steps(text))
        for text in [
            "\n\n".join(t.steps.order_by("position").values_list("node__text", flat=True))
            for t in traces
        ]
    )
