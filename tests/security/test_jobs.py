"""Jobs: a creator's role is checked again when the job starts running, and only the job's
creator and the project's admins may cancel it."""

import pytest
from django.test import Client

from annotation.core.models import Membership, Role
from annotation.jobs.models import Job, JobKind, JobShard, JobStatus
from annotation.jobs.services import enqueue
from tests.factories import MembershipFactory, UserFactory
from tests.support.worker import WorkerProcess, wait_until
from workers.tasks import run_job

CANCEL_URLS = ["/api/jobs/{job}/cancel/", "/jobs/{job}/cancel/", "/llm/jobs/{job}/cancel/"]


def member(project, role, username):
    return MembershipFactory(project=project, role=role, user=UserFactory(username=username)).user


@pytest.fixture
def sample_job(project):
    owner = member(project, Role.RESEARCHER, "owner")
    return Job.objects.create(project=project, kind=JobKind.SAMPLE, created_by=owner)


@pytest.mark.parametrize("url", CANCEL_URLS)
def test_another_researcher_may_not_cancel_a_job(project, client: Client, sample_job, url):
    # given
    client.force_login(member(project, Role.RESEARCHER, "colleague"))
    # when
    response = client.post(url.format(job=sample_job.pk))
    # then
    assert response.status_code == 403
    sample_job.refresh_from_db()
    assert (sample_job.cancel_requested, sample_job.status) == (False, JobStatus.QUEUED)


@pytest.mark.parametrize("url", CANCEL_URLS)
@pytest.mark.parametrize("who", ["owner", "admin", "superuser"])
def test_the_owner_and_admins_may_cancel_a_job(project, client: Client, sample_job, url, who):
    # given
    users = {
        "owner": sample_job.created_by,
        "admin": member(project, Role.ADMIN, "boss"),
        "superuser": UserFactory(username="root", is_superuser=True),
    }
    client.force_login(users[who])
    # when
    response = client.post(url.format(job=sample_job.pk))
    # then
    assert response.status_code in (200, 302)
    sample_job.refresh_from_db()
    assert (sample_job.cancel_requested, sample_job.status) == (True, JobStatus.CANCELLED)


# /jobs/N/ sends a sample job to its own page, /llm/jobs/N/; both offer /jobs/N/cancel/.
@pytest.mark.parametrize("url", ["/jobs/{job}/", "/llm/jobs/{job}/"])
@pytest.mark.parametrize(("who", "shown"), [("owner", True), ("colleague", False)])
def test_job_pages_offer_cancel_only_to_who_may(
    project, client: Client, sample_job, url, who, shown
):
    # given
    users = {"owner": sample_job.created_by, "colleague": member(project, Role.RESEARCHER, "c")}
    client.force_login(users[who])
    # when
    page = client.get(url.format(job=sample_job.pk), follow=True)
    # then
    assert page.status_code == 200
    assert page.redirect_chain in ([], [(f"/llm/jobs/{sample_job.pk}/", 302)])
    assert (f'action="/jobs/{sample_job.pk}/cancel/"' in page.content.decode()) is shown


# (kind, the creator's role when the job was started, their role when it runs: None = removed)
DOWNGRADES = [
    (JobKind.SAMPLE, Role.RESEARCHER, Role.ANNOTATOR),
    (JobKind.SCORE, Role.RESEARCHER, Role.REVIEWER),
    (JobKind.MONTE_CARLO, Role.ADMIN, None),
    (JobKind.EXPORT, Role.ADMIN, Role.RESEARCHER),
    (JobKind.IMPORT, Role.ADMIN, Role.ANNOTATOR),
]
NEEDS = {JobKind.EXPORT: "manage", JobKind.IMPORT: "manage"}


def refusal(job: Job, username: str, kind: str) -> str:
    need = NEEDS.get(kind, "research")
    return (
        f"Not run: {username}, who started this job, may no longer {need} in project "
        f"{job.project.name}."
    )


@pytest.mark.parametrize(("kind", "before", "after"), DOWNGRADES)
def test_a_job_whose_creator_lost_the_role_fails_when_it_starts(project, kind, before, after):
    # given: a queued job, then its creator is downgraded or removed
    creator = member(project, before, "former")
    job = Job.objects.create(project=project, kind=kind, created_by=creator)
    membership = Membership.objects.get(project=project, user=creator)
    if after is None:
        membership.delete()
    else:
        membership.role = after
        membership.save()
    # when: the task body runs (what the worker runs)
    run_job.run(job.pk)
    # then
    job.refresh_from_db()
    assert (job.status, job.error, job.done) == (
        JobStatus.FAILED,
        refusal(job, "former", kind),
        0,
    )
    assert JobShard.objects.filter(job=job).count() == 0  # refused before planning


def test_a_job_whose_creator_was_deactivated_fails_when_it_starts(project):
    # given
    creator = member(project, Role.RESEARCHER, "gone")
    job = Job.objects.create(project=project, kind=JobKind.SAMPLE, created_by=creator)
    creator.is_active = False
    creator.save()
    # when
    run_job.run(job.pk)
    # then
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, refusal(job, "gone", JobKind.SAMPLE))


@pytest.fixture
def worker(transactional_db: None, shared_worker: WorkerProcess) -> WorkerProcess:
    return shared_worker


@pytest.mark.worker
def test_a_real_worker_refuses_the_job_of_a_downgraded_researcher(worker: WorkerProcess, project):
    # given: a researcher's sampling job, queued after they were made an annotator
    creator = member(project, Role.RESEARCHER, "demoted")
    job = Job.objects.create(project=project, kind=JobKind.SAMPLE, created_by=creator)
    Membership.objects.filter(user=creator).update(role=Role.ANNOTATOR)
    # when
    enqueue(job)

    def over() -> bool:
        job.refresh_from_db()
        return job.is_finished

    wait_until(over, 60, what=f"job {job.pk} to end", check=worker.check_alive)
    # then
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        refusal(job, "demoted", JobKind.SAMPLE),
    )
