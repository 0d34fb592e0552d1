"""A new kind of job needs rows in the kinds table, a parameters class and a runner, nothing
else (tests/jobs/extra_kind.py): started through the API, it runs on a real worker, sharded or
whole, and the pages, the access rule and the model's choices know it from the table."""

from collections.abc import Iterator

import pytest

from annotation.jobs.kinds import kind_choices, kinds
from annotation.jobs.models import Job, JobStatus
from tests.factories import ProjectFactory, researcher
from tests.support.data import make_problems
from tests.support.worker import WorkerProcess, finished, purge_broker

EXTRA = "tests.jobs.extra_kind"


@pytest.fixture
def extra_kinds(settings):
    settings.STEPWISE_EXTRA_JOB_KINDS = [EXTRA]


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    # Its own worker: the kinds it knows come from its environment.
    purge_broker()
    logs = tmp_path_factory.mktemp("worker-logs")
    process = WorkerProcess(logs, env={"STEPWISE_EXTRA_JOB_KINDS": EXTRA}).start()
    yield process
    process.stop()


def start(client, project, kind, params):
    return client.post(
        "/api/jobs/",
        {"project": project.pk, "kind": kind, "params": params},
        content_type="application/json",
    )


@pytest.mark.worker
@pytest.mark.parametrize(("kind", "chunks"), [("word_count", 2), ("word_total", 1)])
def test_a_kind_added_by_its_rows_starts_through_the_api_and_runs_on_a_worker(
    client, extra_kinds, worker, transactional_db, kind, chunks
):
    # given three problems of 11 words each ("Ann has 2 apples and gets 3 more. How many
    # apples?")
    project = ProjectFactory()
    problems = make_problems(project, 3)
    client.force_login(researcher(project))
    # when
    response = start(client, project, kind, {"problem_ids": [p.pk for p in problems]})
    # then
    assert response.status_code == 202, response.content
    job = finished(Job.objects.get(pk=response.json()["id"]), worker)
    assert (job.kind, job.status, job.result) == (
        kind,
        JobStatus.SUCCEEDED,
        {"words": 33, "chunks": chunks},
    )
    assert job.get_kind_display() in client.get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.django_db
def test_its_parameters_are_checked_and_named_in_a_400(client, extra_kinds):
    # given
    project, other = ProjectFactory(), ProjectFactory()
    (foreign,) = make_problems(other, 1)
    client.force_login(researcher(project))
    # when
    empty = start(client, project, "word_count", {"problem_ids": []})
    unknown = start(client, project, "word_count", {"problem_ids": [1], "chunks": 2})
    outside = start(client, project, "word_count", {"problem_ids": [foreign.pk]})
    # then
    assert (empty.status_code, empty.json()) == (
        400,
        {"problem_ids": ["name at least one problem"]},
    )
    assert (unknown.status_code, unknown.json()) == (400, {"chunks": ["unknown field"]})
    assert outside.status_code == 400
    assert list(outside.json()) == ["problem_ids"]
    assert not Job.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_a_kind_with_a_start_service_of_its_own_is_not_started_from_raw_parameters(
    client, extra_kinds
):
    # given a sample job, whose parameters hold a copy of a model config a caller could forge
    project = ProjectFactory()
    client.force_login(researcher(project))
    # when
    response = start(client, project, "sample", {})
    # then
    assert response.status_code == 400
    assert response.json() == {
        "kind": [
            "jobs of kind 'sample' are not started here (these are: agreement, best_of_n, "
            "disagreement_queue, round_comparison, scorer_comparison, word_count, word_total)"
        ]
    }


@pytest.mark.django_db
def test_the_table_knows_the_added_kinds_only_where_the_setting_names_them(settings):
    assert "word_count" not in kinds()
    settings.STEPWISE_EXTRA_JOB_KINDS = [EXTRA]
    assert ("word_count", "Word count") in kind_choices()
    assert kinds()["word_total"].sharded is False
