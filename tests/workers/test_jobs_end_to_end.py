"""Sampling, expansion and scoring jobs run by a real Celery worker (solo pool) on the local
Redis and PostgreSQL, with tiny models made in this session, through vLLM's CPU build and
through transformers."""

import pytest
from django.db.models import Count

from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import Job, JobStatus
from annotation.jobs.services import job_cancel_request
from annotation.llm.models import PromptPurpose
from annotation.llm.services import expand_job_start, sample_job_start, score_job_start
from annotation.problems.models import Origin, Trace, TraceStep
from tests.factories import ProjectFactory, researcher
from tests.support.data import (
    RECORD_STEPS,
    generator_config,
    make_problems,
    make_record,
    prompt,
    scorer_config,
)
from tests.support.models import tiny_model
from tests.support.worker import WorkerProcess, finished, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.models]


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    for kind in ("lm", "math-shepherd", "qwen-prm"):
        tiny_model(kind)
    return shared_worker


def assert_traces_split(job: Job) -> None:
    traces = list(Trace.objects.filter(job=job).annotate(n=Count("steps")))
    for trace in traces:
        text = trace.metadata.get("text")
        assert text is None  # the text lives in the steps, not twice
        assert trace.n == TraceStep.objects.filter(trace=trace, on_path=True).count()


@pytest.mark.parametrize("backend", ["vllm", "transformers"])
def test_sample_job_writes_n_graded_samples_per_problem(
    backend: str, worker: WorkerProcess, transactional_db: None
) -> None:
    # given
    project = ProjectFactory()
    problems = make_problems(project, 3)
    model = generator_config(project, backend)
    # when
    job = sample_job_start(
        project=project,
        user=researcher(project),
        model=model,
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
        n=2,
        chunk_size=2,
    )
    job = finished(job, worker)
    # then
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 3, 3)
    # in problem order (external ids as strings would put p10 before p8)
    traces = list(Trace.objects.filter(job=job).order_by("problem_id", "external_id"))
    assert [t.external_id for t in traces] == [
        f"job{job.pk}:p{p.pk}:{i}" for p in problems for i in range(2)
    ]
    assert {t.origin for t in traces} == {Origin.MODEL_SAMPLE}
    assert job.result["traces"] == 6
    assert job.result["tokens"] == sum(t.metadata["tokens"] for t in traces)
    assert 0 < job.result["tokens"] <= 6 * 24
    assert job.result["tokens_per_second"] > 0
    assert job.model_version == f"tiny {backend}@v1"
    assert job.prompt_version == "step-by-step solution@v1"
    for trace in traces:
        steps = TraceStep.objects.filter(trace=trace).order_by("position")
        texts = [s.node.text for s in steps]
        assert len(texts) == len(steps)
        assert all(texts)
        assert trace.metadata["finish"] in {"stop", "length"}
        # correctness was decided against the ground truth whenever an answer was extracted
        assert (trace.is_correct is None) == (trace.final_answer is None)
    assert_traces_split(job)


def test_expand_job_through_vllm_links_sources_and_scores_steps(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given two human thought records and a Math-Shepherd style scorer
    project = ProjectFactory()
    problems = make_problems(project, 2)
    records = [make_record(p, RECORD_STEPS, key=f"record-{p.pk}") for p in problems]
    # when
    job = expand_job_start(
        project=project,
        user=researcher(project),
        model=generator_config(project, "vllm"),
        prompt=prompt(project, PromptPurpose.EXPAND),
        trace_ids=[r.pk for r in records],
        n=2,
        scorer=scorer_config(project, "math-shepherd"),
    )
    job = finished(job, worker)
    # then every record has two expansions linked to it, split, scored step by step
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 2, 2)
    expansions = Trace.objects.filter(job=job, origin=Origin.EXPANSION)
    assert sorted(expansions.values_list("source_trace_id", flat=True)) == sorted(
        [r.pk for r in records] * 2
    )
    source = GradeSource.objects.get(job=job)
    assert source.kind == SourceKind.PRM
    path_nodes = set(
        TraceStep.objects.filter(trace__job=job, on_path=True).values_list("node_id", flat=True)
    )
    grades = Grade.objects.filter(source=source)
    assert set(grades.values_list("node_id", flat=True)) == path_nodes
    assert grades.count() == len(path_nodes) == job.result["grades"]
    assert all(0.0 <= g.score <= 1.0 for g in grades)
    assert job.model_version == "tiny vllm@v1 + tiny math-shepherd@v1"


def test_rationalization_through_transformers_writes_a_solution_per_problem(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given
    project = ProjectFactory()
    problems = make_problems(project, 2)
    # when
    job = expand_job_start(
        project=project,
        user=researcher(project),
        model=generator_config(project, "transformers"),
        prompt=prompt(project, PromptPurpose.RATIONALIZE),
        mode="rationalize",
        problem_ids=[p.pk for p in problems],
    )
    job = finished(job, worker)
    # then
    traces = list(Trace.objects.filter(job=job).order_by("problem_id"))
    assert [(t.problem_id, t.source_trace_id, t.metadata["mode"]) for t in traces] == [
        (p.pk, None, "rationalize") for p in problems
    ]
    for trace in traces:
        steps = list(
            TraceStep.objects.filter(trace=trace).order_by("position").values_list("node__text")
        )
        assert len(steps) == trace.steps.count()


def test_score_job_grades_every_path_step_once_with_a_qwen_style_prm(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given two records sharing their first two steps
    project = ProjectFactory()
    (problem,) = make_problems(project, 1)
    first = make_record(problem, RECORD_STEPS, key="a")
    second = make_record(problem, [*RECORD_STEPS[:2], ("step", "2 + 3 = 5, so 5.")], key="b")
    # when
    job = score_job_start(
        project=project,
        user=researcher(project),
        scorer=scorer_config(project, "qwen-prm"),
        trace_ids=[first.pk, second.pk],
    )
    job = finished(job, worker)
    # then each distinct node (4 + 1) has exactly one current grade of the job's source
    source = GradeSource.objects.get(job=job)
    assert (source.kind, job.result["grades"], job.result["traces"]) == (SourceKind.PRM, 5, 2)
    assert Grade.objects.filter(source=source).count() == 5
    assert Grade.objects.filter(source=source, trace=first).count() == 4
    assert Grade.objects.filter(source=source, trace=second).count() == 1


def test_cancel_stops_a_running_job_between_chunks(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given a job of many one-problem chunks
    project = ProjectFactory()
    problems = make_problems(project, 40)
    job = sample_job_start(
        project=project,
        user=researcher(project),
        model=generator_config(project, "transformers"),
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
        n=1,
        chunk_size=1,
    )

    def started() -> bool:
        job.refresh_from_db()
        return job.done >= 1

    wait_until(started, 120, what="the first chunk", check=worker.check_alive)
    # when
    job_cancel_request(job)
    job = finished(job, worker)
    # then the job stopped after the chunk it was in
    assert job.status == JobStatus.CANCELLED
    assert job.done < 40
    assert Trace.objects.filter(job=job).count() in {job.done, job.done + 1}
