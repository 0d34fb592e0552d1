"""Model config options that spread one model over several GPUs (vLLM's tensor and pipeline
parallel sizes) or several endpoints (an OpenAI-compatible model's base_urls): on the operator's
allow-list of their backend (algorithms/model_policy.py), refused with a message naming the
option otherwise; every base URL passes the same endpoint policy as path_or_endpoint."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from algorithms.model_policy import VLLM_ENGINE_OPTIONS
from annotation.llm.services import model_config_create, model_config_update
from tests.factories import researcher

VLLM_OPTIONS = ", ".join(sorted(VLLM_ENGINE_OPTIONS))


def config(project, kind, options, **fields):
    return model_config_create(
        project=project,
        name=f"m{kind}",
        kind=kind,
        path_or_endpoint="http://a:8000/v1" if kind == "openai" else "/models/a",
        options=options,
        **fields,
    )


def test_parallel_options_are_kept_for_their_backend(project):
    # when
    vllm = config(project, "vllm", {"tensor_parallel_size": 4, "pipeline_parallel_size": 2})
    endpoint = config(
        project, "openai", {"base_urls": ["http://b:8000/v1"], "concurrent_requests": 4}
    )
    # then
    assert vllm.snapshot()["options"] == {"tensor_parallel_size": 4, "pipeline_parallel_size": 2}
    assert endpoint.snapshot()["options"] == {
        "base_urls": ["http://b:8000/v1"],
        "concurrent_requests": 4,
    }


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            "transformers",
            {"tensor_parallel_size": 2},
            "unknown option tensor_parallel_size for a transformers model; allowed: "
            "batch_size, device",
        ),
        (
            "vllm",
            {"base_urls": ["http://b/v1"]},
            f"unknown option base_urls for a vllm model; allowed: {VLLM_OPTIONS}",
        ),
        (
            "vllm",
            {"pipeline_parallel_size": 0},
            "option pipeline_parallel_size must be at least 1, got 0",
        ),
        (
            "openai",
            {"concurrent_requests": -2},
            "option concurrent_requests must be at least 1, got -2",
        ),
        (
            "vllm",
            {"tensor_parallel_size": "2"},
            "option tensor_parallel_size must be an integer, got '2'",
        ),
        (
            "openai",
            {"base_urls": "http://b/v1"},
            'option base_urls must be a list of URLs, e.g. ["http://gpu2:8000/v1"], '
            "got 'http://b/v1'",
        ),
        (
            "openai",
            {"base_urls": [7]},
            'option base_urls must be a list of URLs, e.g. ["http://gpu2:8000/v1"]',
        ),
        (
            "openai",
            {"base_urls": ["ftp://b"]},
            "base_urls: endpoint scheme 'ftp' is not allowed; use http or https, "
            "e.g. http://host:8000/v1",
        ),
        (
            "openai",
            {"base_urls": ["http://b:8000/v1", "http://10.0.0.5:8000/v1"]},
            "base_urls: endpoint host 10.0.0.5 is a loopback, private or reserved address; an "
            "operator must list it in STEPWISE_ENDPOINT_ALLOWED_HOSTS",
        ),
        (
            "openai",
            {"base_urls": ["http://169.254.169.254/v1"]},
            "base_urls: endpoint host 169.254.169.254 is a link-local or cloud metadata "
            "address; model endpoints may never reach it",
        ),
    ],
)
def test_a_parallel_option_of_the_wrong_backend_or_value_is_refused(
    project, kind, options, message
):
    with pytest.raises(ValidationError) as error:
        config(project, kind, options)
    assert error.value.message_dict == {"options": [message]}


def test_a_key_goes_to_every_base_url_so_each_host_must_be_listed(project, settings):
    # given an operator who lists the first endpoint's host and allows the key variable
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["a"]
    settings.STEPWISE_SECRET_ENV_ALLOWLIST = ["OPENAI_API_KEY"]
    # when a second endpoint on another host would get the key too
    with pytest.raises(ValidationError) as error:
        config(
            project,
            "openai",
            {"api_key_env": "OPENAI_API_KEY", "base_urls": ["http://b:8000/v1"]},
        )
    # then
    assert error.value.message_dict == {
        "options": [
            "a key from api_key_env is sent only to a host the operator lists in "
            "STEPWISE_ENDPOINT_ALLOWED_HOSTS; b is not listed"
        ]
    }


def test_an_update_checks_the_options_against_the_stored_kind(project):
    # given
    stored = config(project, "transformers", {})
    # when
    with pytest.raises(ValidationError) as error:
        model_config_update(config=stored, options={"tensor_parallel_size": 2})
    # then
    assert error.value.message_dict == {
        "options": [
            "unknown option tensor_parallel_size for a transformers model; allowed: "
            "batch_size, device"
        ]
    }


def test_the_api_answers_a_bad_parallel_option_with_400(client, project):
    # given
    client.force_login(researcher(project))
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
        "options": ["option tensor_parallel_size must be at least 1, got -1"]
    }
