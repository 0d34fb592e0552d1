"""Model config options that spread one model over several GPUs (vLLM's tensor and pipeline
parallel sizes) or several endpoints (an OpenAI-compatible model's base_urls): accepted for
the backend they belong to, refused with a message naming the option otherwise."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotation.core.models import Role
from annotation.llm.services import model_config_create, model_config_update
from tests.factories import MembershipFactory, UserFactory


def config(project, kind, options):
    return model_config_create(
        project=project,
        name=f"m{kind}",
        kind=kind,
        path_or_endpoint="http://a:8000/v1",
        options=options,
    )


def test_parallel_options_are_kept_for_their_backend(project):
    # when
    vllm = config(project, "vllm", {"tensor_parallel_size": 4, "pipeline_parallel_size": 2})
    endpoint = config(
        project, "openai", {"base_urls": ["http://b:8000/v1"], "concurrent_requests": 4}
    )
    # then
    assert vllm.snapshot()["options"] == {"tensor_parallel_size": 4, "pipeline_parallel_size": 2}
    assert endpoint.snapshot()["options"]["base_urls"] == ["http://b:8000/v1"]


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            "transformers",
            {"tensor_parallel_size": 2},
            "tensor_parallel_size is an option of vllm models, not transformers",
        ),
        (
            "vllm",
            {"base_urls": ["http://b/v1"]},
            "base_urls is an option of openai models, not vllm",
        ),
        (
            "vllm",
            {"pipeline_parallel_size": 0},
            "pipeline_parallel_size must be a whole number of at least 1, got 0",
        ),
        (
            "vllm",
            {"tensor_parallel_size": "2"},
            "tensor_parallel_size must be a whole number of at least 1, got '2'",
        ),
        (
            "openai",
            {"base_urls": "http://b/v1"},
            'base_urls must be a list of URLs, e.g. ["http://gpu2:8000/v1"]',
        ),
        (
            "openai",
            {"base_urls": ["ftp://b"]},
            'base_urls must be a list of URLs, e.g. ["http://gpu2:8000/v1"]',
        ),
    ],
)
def test_a_parallel_option_of_the_wrong_backend_or_value_is_refused(
    project, kind, options, message
):
    with pytest.raises(ValidationError) as error:
        config(project, kind, options)
    assert error.value.message_dict == {"options": [message]}


def test_an_update_checks_the_options_against_the_stored_kind(project):
    # given
    stored = config(project, "transformers", {})
    # when
    with pytest.raises(ValidationError) as error:
        model_config_update(config=stored, options={"tensor_parallel_size": 2})
    # then
    assert error.value.message_dict == {
        "options": ["tensor_parallel_size is an option of vllm models, not transformers"]
    }


def test_the_api_answers_a_bad_parallel_option_with_400(client, project):
    # given
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    client.force_login(user)
    # when
    response = client.post(
        reverse("llm-model-list"),
        {
            "project": project.pk,
            "name": "big",
            "kind": "vllm",
            "path_or_endpoint": "/models/big",
            "options": {"tensor_parallel_size": -1},
        },
        content_type="application/json",
    )
    # then
    assert response.status_code == 400
    assert response.json() == {
        "options": ["tensor_parallel_size must be a whole number of at least 1, got -1"]
    }
