"""Runners in the test process with a tiny transformers model: a second run of a job (a
redelivery, or a worker picking up an abandoned job) writes nothing twice and only fills gaps."""

import pytest

from annotation.grading.models import Grade
from annotation.jobs.models import JobStatus
from annotation.llm.models import PromptPurpose
from annotation.llm.services import sample_job_start, score_job_start
from annotation.problems.models import Trace, TraceStep
from tests.support.data import (
    RECORD_STEPS,
    generator_config,
    make_problems,
    make_record,
    prompt,
    scorer_config,
)
from workers.runners.sample import run_sample
from workers.runners.score import run_score

pytestmark = [pytest.mark.django_db, pytest.mark.models]


def test_running_a_sample_job_again_only_fills_what_is_missing(project):
    # given a finished run
    problems = make_problems(project, 3)
    job = sample_job_start(
        project=project,
        user=None,
        model=generator_config(project, "transformers"),
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
        n=2,
        chunk_size=2,
    )
    job.status = JobStatus.RUNNING
    job.save(update_fields=["status"])
    first = run_sample(job)
    keys = sorted(Trace.objects.filter(job=job).values_list("external_id", flat=True))
    # when one problem's samples are lost and the job runs again, twice
    Trace.objects.filter(job=job, problem=problems[1]).delete()
    run_sample(job)
    second = run_sample(job)
    # then exactly the same keys exist, each once
    assert sorted(Trace.objects.filter(job=job).values_list("external_id", flat=True)) == keys
    assert len(keys) == 6
    assert (first["traces"], second["traces"]) == (6, 6)
    assert job.done == 3
    assert TraceStep.objects.filter(trace__job=job).count() == sum(
        t.steps.count() for t in Trace.objects.filter(job=job)
    )


def test_running_a_score_job_again_adds_no_grades(project):
    (problem,) = make_problems(project, 1)
    record = make_record(problem, RECORD_STEPS, key="r")
    job = score_job_start(
        project=project,
        user=None,
        scorer=scorer_config(project, "math-shepherd"),
        trace_ids=[record.pk],
    )
    job.status = JobStatus.RUNNING
    job.save(update_fields=["status"])
    first = run_score(job)
    scores = list(Grade.objects.order_by("node_id").values_list("node_id", "score"))
    second = run_score(job)
    assert (first["grades"], second["grades"]) == (4, 4)
    assert list(Grade.objects.order_by("node_id").values_list("node_id", "score")) == scores
