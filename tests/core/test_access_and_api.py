"""Roles through real HTTP requests: what each role may see and do, and the import job."""

import io
import json

import pytest
from rest_framework.test import APIClient

from annotation.core.models import Role
from annotation.datasets.importer import import_dataset
from annotation.jobs.models import Job, JobStatus
from annotation.problems.models import Problem, Trace
from tests.conftest import PRM800K_DIR
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workers.tasks import run_job


@pytest.fixture
def imported(project):
    raw = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes()
    import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(raw))
    return project


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def member(project, role: str):
    return MembershipFactory(project=project, role=role).user


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_members_see_their_project_and_its_traces(imported, role):
    client = client_for(member(imported, role))
    assert [p["name"] for p in client.get("/api/projects/").json()["results"]] == ["test project"]
    traces = client.get(f"/api/traces/?project={imported.pk}").json()
    assert len(traces["results"]) == 6
    first = traces["results"][0]
    assert [s["position"] for s in first["steps"] if s["on_path"]] == [0, 1, 2, 3, 4, 5]


def test_outsiders_see_nothing_and_get_404(imported):
    other = ProjectFactory(name="other")
    client = client_for(member(other, Role.ADMIN))
    assert client.get("/api/projects/").json()["count"] == 1
    assert len(client.get("/api/traces/").json()["results"]) == 0
    trace = Trace.objects.first()
    assert client.get(f"/api/traces/{trace.pk}/").status_code == 404
    assert client.get(f"/projects/{imported.pk}/").status_code in (302, 404)


def test_anonymous_requests_are_refused(imported):
    assert APIClient().get("/api/traces/").status_code == 403


def test_trace_filters(imported):
    client = client_for(member(imported, Role.RESEARCHER))
    base = f"/api/traces/?project={imported.pk}"
    correct = client.get(base + "&correct=true").json()["results"]
    assert len(correct) == 3  # answers 29, 468 and 9
    assert len(client.get(base + "&finish_reason=found_error").json()["results"]) == 1
    labeler = "prm800k:e90a38f3-3135-4465-87af-3e6322e3d772"
    assert len(client.get(base + f"&source={labeler}").json()["results"]) == 3
    grades = f"/api/grades/?project={imported.pk}&source={labeler}"
    # 14 + 11 + 13 rated completions in lines 1, 3 and 5, each its own node: a text offered
    # twice at one step is two nodes with their own ratings (issue 27), no grade is history
    assert len(client.get(grades).json()["results"]) == 38
    assert len(client.get(grades + "&is_current=false").json()["results"]) == 0


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.ANNOTATOR, 403), (Role.REVIEWER, 403), (Role.RESEARCHER, 403), (Role.ADMIN, 202)],
)
def test_only_admins_import(project, role, status):
    client = client_for(member(project, role))
    upload = io.BytesIO((PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes())
    upload.name = "samples.jsonl"
    response = client.post(
        "/api/imports/",
        {"project": project.pk, "format": "prm800k", "file": upload},
        format="multipart",
    )
    assert response.status_code == status
    assert Job.objects.count() == (1 if status == 202 else 0)


def test_import_job_runs_to_completion_with_progress(project, django_capture_on_commit_callbacks):
    # given: an upload by an admin (enqueueing happens on commit; run the task body here)
    admin = member(project, Role.ADMIN)
    upload = io.BytesIO((PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes())
    upload.name = "samples.jsonl"
    response = client_for(admin).post(
        "/api/imports/",
        {"project": project.pk, "format": "prm800k", "file": upload},
        format="multipart",
    )
    job_id = response.json()["id"]
    # when
    run_job.run(job_id)
    # then
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 6, 6)
    assert job.result["traces_created"] == 6
    assert Trace.objects.filter(problem__project=project).count() == 6


def test_import_job_with_a_bad_file_fails_with_the_line_and_changes_nothing(project):
    admin = member(project, Role.ADMIN)
    upload = io.BytesIO(b'{"problem": "ok", "solution": "\\\\boxed{1}"}\n{"problem": 5}\n')
    upload.name = "bad.jsonl"
    response = client_for(admin).post(
        "/api/imports/",
        {"project": project.pk, "format": "math", "file": upload},
        format="multipart",
    )
    run_job.run(response.json()["id"])
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED
    assert job.error == (
        "line 2: field problem: expected a string, got an integer; nothing was imported"
    )
    assert Problem.objects.count() == 0


def test_openapi_schema_and_docs(db):
    client = client_for(UserFactory())
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/traces/", "/api/problems/", "/api/grades/", "/api/imports/"} <= set(paths)
    assert client.get("/api/docs/").status_code == 200


def test_pages_by_role(imported, client):
    annotator = member(imported, Role.ANNOTATOR)
    client.force_login(annotator)
    assert client.get(f"/projects/{imported.pk}/").status_code == 200
    assert client.get(f"/projects/{imported.pk}/import/").status_code == 403
    client.force_login(member(imported, Role.ADMIN))
    page = client.get(f"/projects/{imported.pk}/import/")
    assert page.status_code == 200
    assert b'name="format"' in page.content


def test_researchers_see_model_jobs_but_not_others_imports_and_exports(project):
    # given: jobs an admin started
    admin = member(project, Role.ADMIN)
    researcher = member(project, Role.RESEARCHER)
    jobs = {
        kind: Job.objects.create(project=project, kind=kind, created_by=admin)
        for kind in ("import", "export", "sample")
    }
    client = client_for(researcher)
    # when / then
    listed = {row["kind"] for row in client.get("/api/jobs/").json()["results"]}
    assert listed == {"sample"}
    assert {kind: client.get(f"/api/jobs/{job.pk}/").status_code for kind, job in jobs.items()} == {
        "import": 403,
        "export": 403,
        "sample": 200,
    }
    admin_listed = {row["kind"] for row in client_for(admin).get("/api/jobs/").json()["results"]}
    assert admin_listed == {"import", "export", "sample"}
