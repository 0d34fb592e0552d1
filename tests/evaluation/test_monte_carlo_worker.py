"""A Monte-Carlo labeling job run by a real Celery worker (solo pool) on the local Redis and
PostgreSQL, with a tiny transformers model made in this session as the policy; its labels then
appear in the scorer comparison."""

import pytest

from annotation.evaluation.models import Rollout
from annotation.evaluation.selectors import compare_sources
from annotation.evaluation.services import monte_carlo_job_start
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import JobStatus
from annotation.llm.models import PromptPurpose
from tests.factories import ProjectFactory, UserFactory, researcher
from tests.support.data import generator_config, make_problems, make_record, prompt
from tests.support.models import tiny_model
from tests.support.worker import WorkerProcess, finished

pytestmark = [pytest.mark.worker, pytest.mark.models]

STEPS = [("step", "Ann has 2 apples."), ("step", "She gets 3 more."), ("step", "The answer is 5.")]


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    tiny_model("lm")
    return shared_worker


@pytest.mark.parametrize("mode", ["all", "binary_search"])
def test_monte_carlo_job_labels_steps_through_a_real_worker(
    mode: str, worker: WorkerProcess, transactional_db: None
) -> None:
    # given two human-graded records of problems whose answer is 5 and 7
    project = ProjectFactory()
    problems = make_problems(project, 2)
    records = [make_record(p, STEPS, key=f"r{p.pk}") for p in problems]
    annotator = UserFactory()
    human = GradeSource.objects.create(kind=SourceKind.HUMAN, name="annotator", user=annotator)
    for record in records:
        for step in record.steps.all():
            Grade.objects.create(node_id=step.node_id, source=human, trace=record, rating=1)
    # when
    job = monte_carlo_job_start(
        project=project,
        user=researcher(project),
        model=generator_config(project, "transformers"),
        prompt=prompt(project, PromptPurpose.SAMPLE),
        trace_ids=[r.pk for r in records],
        n=2,
        mode=mode,
        chunk_size=1,
    )
    job = finished(job, worker)
    # then
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 2, 2)
    source = GradeSource.objects.get(job=job)
    assert source.kind == SourceKind.MONTE_CARLO
    rollouts = Rollout.objects.filter(job=job)
    prefixes = rollouts.values("node_id").distinct().count()
    assert rollouts.count() == 2 * prefixes == job.result["rollouts"]
    assert prefixes == job.result["prefixes"]
    if mode == "all":
        assert prefixes == 6
    else:
        assert 2 <= prefixes <= 2 * len(STEPS).bit_length()
    # every path step has one current label; an evaluated one agrees with its rollouts
    grades = list(Grade.objects.filter(source=source, is_current=True))
    assert len(grades) == 6 == job.result["labels"]
    for grade in grades:
        reached = list(rollouts.filter(node_id=grade.node_id).values_list("reached", flat=True))
        if reached:
            assert grade.score == sum(reached) / 2
            assert grade.rating == (1 if any(reached) else -1)
        else:
            assert (grade.score, grade.reason) == (None, "inferred")
    assert all(r.text is not None for r in rollouts)
    # and the labels stand beside the other sources in the comparison
    (row,) = compare_sources(project).rows
    assert row.source == source
