"""Quotas on work: per user and per project, jobs queued or running at once and job starts in
the last hour; one export of a whole project at a time. A refused start is a 429 naming the
quota and when it frees, and writes nothing (60 sample jobs in 22 s and 20 exports in 3 s were
all accepted before)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from annotation.core.limits import LimitMiddleware
from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.quotas import QuotaExceeded
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create, prompt_template_create
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory, UserFactory


@pytest.fixture
def lab(db) -> dict[str, Any]:
    project = ProjectFactory(name="quota lab")
    model = model_config_create(
        project=project, name="gen", kind="transformers", path_or_endpoint="/models/gen"
    )
    prompt = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    return {
        "project": project,
        "body": {
            "project": project.pk,
            "kind": "sample",
            "model": model.pk,
            "prompt": prompt.pk,
            "problem_ids": [ProblemFactory(project=project).pk],
        },
    }


def client_for(project: Any, role: str = Role.ADMIN) -> APIClient:
    client = APIClient()
    client.force_authenticate(MembershipFactory(project=project, role=role).user)
    return client


def start(client: APIClient, body: dict[str, Any]) -> Any:
    return client.post("/api/llm/jobs/", body, format="json")


def test_the_11th_job_beyond_a_quota_of_10_is_refused_naming_the_quota(lab, settings):
    # given
    settings.STEPWISE_QUOTA_ACTIVE_JOBS_PER_USER = 10
    client = client_for(lab["project"], Role.RESEARCHER)
    # when
    statuses = [start(client, lab["body"]).status_code for _ in range(10)]
    refused = start(client, lab["body"])
    # then
    assert statuses == [202] * 10
    assert refused.status_code == 429
    assert refused.json()["limit"] == "STEPWISE_QUOTA_ACTIVE_JOBS_PER_USER"
    assert "STEPWISE_QUOTA_ACTIVE_JOBS_PER_USER = 10" in refused.json()["detail"]
    assert "frees when one of them finishes" in refused.json()["detail"]
    assert Job.objects.count() == 10


def test_a_finished_job_frees_its_place(lab, settings):
    settings.STEPWISE_QUOTA_ACTIVE_JOBS_PER_USER = 2
    client = client_for(lab["project"])
    first = start(client, lab["body"]).json()["id"]
    start(client, lab["body"])
    assert start(client, lab["body"]).status_code == 429
    Job.objects.filter(pk=first).update(status=JobStatus.SUCCEEDED)
    assert start(client, lab["body"]).status_code == 202


def test_starts_per_hour_count_finished_jobs_and_say_when_the_next_is_allowed(lab, settings):
    # given
    settings.STEPWISE_QUOTA_STARTS_PER_HOUR_PER_USER = 3
    client = client_for(lab["project"])
    for _ in range(3):
        assert start(client, lab["body"]).status_code == 202
    Job.objects.update(status=JobStatus.CANCELLED)
    # when
    refused = start(client, lab["body"])
    # then
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert "STEPWISE_QUOTA_STARTS_PER_HOUR_PER_USER = 3" in detail
    assert "The next start is allowed at" in detail
    assert 3500 < int(refused["Retry-After"]) <= 3601


def test_a_projects_quota_counts_everyones_jobs(lab, settings):
    settings.STEPWISE_QUOTA_ACTIVE_JOBS_PER_PROJECT = 2
    one, other = client_for(lab["project"]), client_for(lab["project"], Role.RESEARCHER)
    assert [start(one, lab["body"]).status_code for _ in range(2)] == [202, 202]
    refused = start(other, lab["body"])
    assert refused.status_code == 429
    assert "project quota lab has 2 jobs queued or running" in refused.json()["detail"]


def test_one_export_of_a_whole_project_at_a_time(lab):
    # given
    client = client_for(lab["project"])
    body = {"project": lab["project"].pk, "format": "prm800k"}
    first = client.post("/api/exports/", body, format="json")
    # when
    second = client.post("/api/exports/", body, format="json")
    narrowed = client.post("/api/exports/", {**body, "kinds": ["expansion"]}, format="json")
    # then
    assert (first.status_code, second.status_code, narrowed.status_code) == (202, 429, 202)
    assert f"(job {first.json()['id']}); one runs at a time" in second.json()["detail"]
    assert Job.objects.filter(kind=JobKind.EXPORT).count() == 2


def test_a_page_that_reaches_a_limit_answers_a_429_page_naming_it(db):
    request = RequestFactory().post("/")
    request.user = UserFactory()
    error = QuotaExceeded("Not started: too many.", setting="STEPWISE_X", retry_after=30)
    response = LimitMiddleware(lambda r: None).process_exception(request, error)  # type: ignore[arg-type]
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert b"Not started: too many." in response.content
    assert b"STEPWISE_X" in response.content
