"""A running job says what it is doing before its first progress (loading a model, starting
an engine): the worker sets the job's phase while a model loads, the next progress report
clears it, and its page shows it."""

from dataclasses import replace

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import ModelSnapshot
from annotation.jobs.runners import Work
from annotation.jobs.services import job_phase_set, job_progress_report, running
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workers.runners.common import announced, loading_phase

pytestmark = pytest.mark.django_db


def snapshot(kind: str) -> ModelSnapshot:
    return ModelSnapshot(id=1, name="tiny", label="tiny@v1", kind=kind, path_or_endpoint="/m")


def running_job() -> Job:
    return Job.objects.create(project=ProjectFactory(), kind=JobKind.SAMPLE, status="running")


def phase_of(job: Job) -> str:
    return Job.objects.values_list("phase", flat=True).get(pk=job.pk)


def test_loading_a_model_sets_the_phase_and_progress_clears_it():
    # given
    job = running_job()
    # when the registry really loads the model (it calls on_load)
    with running(job), announced(snapshot("vllm"), "model") as on_load:
        on_load()
        during = phase_of(job)
    after = phase_of(job)
    job_progress_report(job, 1, 2)
    # then
    assert during == (
        "Starting the vLLM engine for the model tiny@v1 (loading the weights, then warming up)"
    )
    assert after == "The model tiny@v1 is loaded; working on the first items"
    assert phase_of(job) == ""


def test_a_cached_model_writes_no_phase():
    job = running_job()
    with running(job), announced(snapshot("transformers"), "scorer"):
        pass  # a cache hit: the registry does not call on_load
    assert phase_of(job) == ""


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("transformers", "Loading the scorer tiny@v1 (transformers)"),
        ("openai", "Connecting to the scorer tiny@v1 at its endpoint"),
    ],
)
def test_phase_texts_name_the_backend(kind, text):
    assert loading_phase(snapshot(kind), "scorer") == text


def test_a_phase_is_written_only_while_the_job_runs():
    # given a job that has ended
    job = running_job()
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    # when a late phase arrives
    job_phase_set(job, "Loading the model")
    # then
    assert phase_of(job) == ""


def test_the_job_page_shows_the_phase_of_a_running_job(client):
    # given
    job = running_job()
    user = UserFactory()
    MembershipFactory(project=job.project, user=user, role=Role.RESEARCHER)
    job_phase_set(job, "Starting the vLLM engine for the model tiny@v1")
    client.force_login(user)
    # when
    page = client.get(reverse("llm-job", args=[job.pk])).content.decode()
    # then
    assert "Starting the vLLM engine for the model tiny@v1…" in page


# What the recording work below saw while its shard ran: the phase the model load wrote.
SEEN_IN_SHARD: list[str] = []


def recording_work(job: Job) -> Work:
    """A sharded job's work that loads a model the way the runners do (announced), and writes
    down the job's phase while the model "loads"."""

    def process(items: list[int]) -> None:
        with announced(snapshot("transformers"), "model") as on_load:
            on_load()  # what the registry calls when it really builds the model
            SEEN_IN_SHARD.append(phase_of(job))

    return Work(items=[1, 2], chunk_size=2, process=process, result=lambda reports: {"ok": 1})


def test_a_model_loaded_by_a_shard_sets_its_jobs_phase_and_the_shards_end_clears_it(
    monkeypatch,
):
    # given a sharded job planned into one shard, its work loading a model
    from annotation.jobs.kinds import kind_of, kinds, queue_for
    from annotation.jobs.shards import shards_plan
    from workers.shards import run_next_shard

    sample = replace(kind_of("sample"), runner=f"{__name__}.recording_work")
    monkeypatch.setitem(kinds(), "sample", sample)
    SEEN_IN_SHARD.clear()
    job = running_job()
    shards_plan(job, [1, 2], 2)
    # when a worker takes the shard
    run_next_shard(queue_for(job.kind), worker="w1", preferred_model="")
    # then the page said what loaded while the shard ran, and nothing once it ended
    assert SEEN_IN_SHARD == ["Loading the model tiny@v1 (transformers)"]
    job.refresh_from_db()
    assert (job.status, job.done, job.phase, job.result) == (JobStatus.SUCCEEDED, 2, "", {"ok": 1})
