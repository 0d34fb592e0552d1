"""Bounds: sampling within the operator's cap and the model's context, a length cap on stored
text, and an upload's size checked while the request is read, before anything is written."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework.test import APIClient

from annotation.core.columns import TEXT_MAX_CHARS
from annotation.core.models import Project, Role
from annotation.jobs.models import Job
from annotation.llm.models import PromptPurpose, PromptTemplate
from annotation.llm.services import model_config_create, prompt_template_create
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory


@pytest.fixture
def lab(db) -> dict[str, Any]:
    project = ProjectFactory(name="bounds")
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    model = model_config_create(
        project=project,
        name="gen",
        kind="transformers",
        path_or_endpoint="/models/gen",
        max_length=4096,
    )
    prompt = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    client = APIClient()
    client.force_authenticate(admin)
    return {
        "client": client,
        "admin": admin,
        "project": project,
        "model": model,
        "body": {
            "project": project.pk,
            "kind": "sample",
            "model": model.pk,
            "prompt": prompt.pk,
            "problem_ids": [ProblemFactory(project=project).pk],
        },
    }


# Sampling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sampling,field,words",
    [
        ({"max_tokens": 1_000_000_000}, "sampling.max_tokens", "STEPWISE_MAX_NEW_TOKENS"),
        ({"max_tokens": 5000}, "sampling.max_tokens", "context of gen (4,096 tokens"),
        ({"stop": ["x"] * 17}, "sampling.stop", "at most 16 stop strings"),
        ({"stop": ["x" * 201]}, "sampling.stop", "at most 200 characters"),
    ],
)
def test_sampling_beyond_a_bound_is_a_400_naming_the_field(lab, sampling, field, words):
    response = lab["client"].post(
        "/api/llm/jobs/", {**lab["body"], "sampling": sampling}, format="json"
    )
    assert response.status_code == 400, response.content[:300]
    assert words in " ".join(response.json()[field])
    assert Job.objects.count() == 0


def test_a_model_configs_default_sampling_is_bounded_too(lab):
    url = f"/api/llm/models/{lab['model'].pk}/"
    huge = lab["client"].patch(url, {"default_sampling": {"max_tokens": 10**9}}, format="json")
    beyond = lab["client"].patch(url, {"default_sampling": {"max_tokens": 5000}}, format="json")
    assert (huge.status_code, beyond.status_code) == (400, 400)
    assert "default_sampling.max_tokens" in huge.json()
    assert "default_sampling.max_tokens" in beyond.json()


def test_sampling_within_the_bounds_starts(lab):
    body = {**lab["body"], "sampling": {"max_tokens": 4096, "stop": ["\n\n"]}}
    assert lab["client"].post("/api/llm/jobs/", body, format="json").status_code == 202


# Stored text ------------------------------------------------------------------------------------


def test_a_2_000_000_character_guidelines_patch_is_refused(lab):
    # when
    response = lab["client"].patch(
        f"/api/projects/{lab['project'].pk}/", {"guidelines": "x" * 2_000_000}, format="json"
    )
    # then
    assert response.status_code == 400
    assert "guidelines" in response.json()
    assert Project.objects.get(pk=lab["project"].pk).guidelines == ""


def test_guidelines_up_to_the_cap_are_kept(lab):
    url = f"/api/projects/{lab['project'].pk}/"
    response = lab["client"].patch(url, {"record_guidelines": "x" * TEXT_MAX_CHARS}, format="json")
    assert response.status_code == 200


def test_the_settings_page_refuses_guidelines_beyond_the_cap(lab, client):
    client.force_login(lab["admin"])
    page = client.get(f"/projects/{lab['project'].pk}/settings/")
    form = page.context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data["guidelines"] = "x" * (TEXT_MAX_CHARS + 1)
    response = client.post(f"/projects/{lab['project'].pk}/settings/", data)
    assert response.status_code == 400
    assert "guidelines" in response.context["form"].errors
    assert Project.objects.get(pk=lab["project"].pk).guidelines == ""


def test_a_prompt_beyond_the_cap_is_a_form_error(lab, client):
    client.force_login(lab["admin"])
    response = client.post(
        f"/projects/{lab['project'].pk}/llm/prompts/new/",
        {"name": "long", "purpose": "sample", "text": "{{ problem }}" + "x" * TEXT_MAX_CHARS},
    )
    assert response.status_code == 200
    assert "text" in response.context["form"].errors
    assert not PromptTemplate.objects.filter(name="long").exists()


# Uploads ----------------------------------------------------------------------------------------


class Recording(FileUploadHandler):
    """Stands after the limit where Django's handlers that keep a file (in memory, on disk) do:
    what it receives is what would have been kept."""

    received: list[int] = []

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        Recording.received.append(len(raw_data))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@pytest.fixture
def small_uploads(settings):
    settings.STEPWISE_MAX_UPLOAD_BYTES = 1000
    settings.FILE_UPLOAD_HANDLERS = [
        "annotation.core.uploads.LimitedUploadHandler",
        "tests.security.test_bounds.Recording",
        *settings.FILE_UPLOAD_HANDLERS[1:],
    ]
    Recording.received = []


def test_an_upload_beyond_the_limit_is_refused_before_anything_is_kept(lab, small_uploads):
    # when
    upload = SimpleUploadedFile("big.jsonl", b'{"problem": "x"}\n' * 500)
    response = lab["client"].post(
        "/api/imports/",
        {"project": lab["project"].pk, "format": "math", "file": upload},
        format="multipart",
    )
    # then
    assert response.status_code == 400
    message = " ".join(response.json()["(body)"])
    assert "more than STEPWISE_MAX_UPLOAD_BYTES = 1,000 bytes" in message
    assert Recording.received == []
    assert Job.objects.count() == 0


def test_an_upload_within_the_limit_is_taken(lab, small_uploads):
    upload = SimpleUploadedFile("small.jsonl", b'{"problem": "x", "answer": "1"}\n')
    response = lab["client"].post(
        "/api/imports/",
        {"project": lab["project"].pk, "format": "math", "file": upload},
        format="multipart",
    )
    assert response.status_code == 202, response.content[:300]
    assert sum(Recording.received) > 0
