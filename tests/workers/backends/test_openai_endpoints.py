"""An OpenAI-compatible model served by several endpoints: requests spread over them, run at
the same time, and skip an endpoint that cannot be reached. The endpoints are fake servers of
the test's own (workers/testing/fake_openai.py) on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from algorithms.sampling import SamplingParams
from tests.support.endpoints import LOOPBACK_POLICY
from tests.support.worker import wait_until
from workers.backends.base import BackendError
from workers.backends.openai_generator import OpenAIGenerator
from workers.backends.registry import ModelSpec, load_generator
from workers.testing.fake_openai import FakeOpenAIServer
from workers.testing.vllm_cpu import free_port

PROMPTS = [f"Problem number {i}" for i in range(6)]


@pytest.fixture
def servers() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with FakeOpenAIServer(tokens=4) as first, FakeOpenAIServer(tokens=4) as second:
        yield first, second


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def test_requests_are_spread_over_the_endpoints_in_prompt_order(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    # given a model served by two endpoints, one prompt per request
    first, second = servers
    generator = OpenAIGenerator(
        [first.base_url, second.base_url], "fake", prompts_per_request=1, policy=LOOPBACK_POLICY
    )
    # when
    outputs = generator.generate(PROMPTS, SamplingParams(n=2, max_tokens=8))
    # then each endpoint answered half, and the answers are in the prompts' order
    assert (first.requests, second.requests) == (3, 3)
    assert [[s.text for s in samples] for samples in outputs] == [
        [first.completion_text(prompt, i) for i in range(2)] for prompt in PROMPTS
    ]
    assert {s.token_count for samples in outputs for s in samples} == {4}


def test_the_endpoints_work_at_the_same_time(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    # given two endpoints that hold their answers
    first, second = servers
    for server in servers:
        server.hold()
    generator = OpenAIGenerator(
        [first.base_url, second.base_url], "fake", prompts_per_request=1, policy=LOOPBACK_POLICY
    )
    messages = [[{"role": "user", "content": p}] for p in PROMPTS[:2]]
    outputs: list[object] = []
    thread = threading.Thread(
        target=lambda: outputs.extend(generator.generate_chat(messages, SamplingParams()))
    )
    # when two conversations are sent
    thread.start()
    try:
        # then both endpoints hold a request at once
        wait_until(lambda: first.in_flight == second.in_flight == 1, 120, what="a request at each")
    finally:
        for server in servers:
            server.release()
        thread.join(timeout=120)
    assert len(outputs) == 2


def test_an_endpoint_that_cannot_be_reached_is_skipped(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    # given a model whose first endpoint is down
    first, _ = servers
    generator = OpenAIGenerator(
        [dead_url(), first.base_url], "fake", prompts_per_request=1, policy=LOOPBACK_POLICY
    )
    # when
    outputs = generator.generate(PROMPTS[:4], SamplingParams(max_tokens=8))
    # then the other endpoint answered every request
    assert len(outputs) == 4
    assert first.requests == 4


def test_no_endpoint_reachable_is_a_retryable_error() -> None:
    generator = OpenAIGenerator(
        [dead_url(), dead_url()], "fake", timeout_s=5, policy=LOOPBACK_POLICY
    )

    with pytest.raises(BackendError, match="endpoint unavailable") as caught:
        generator.generate(PROMPTS, SamplingParams(max_tokens=4))

    assert caught.value.retryable is True


def test_a_model_config_lists_more_base_urls_in_its_options(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    # given
    first, second = servers
    spec = ModelSpec(
        name="fake",
        kind="openai",
        path_or_endpoint=first.base_url,
        options={"base_urls": [second.base_url], "prompts_per_request": 1},
    )
    # when
    generator = load_generator(spec, LOOPBACK_POLICY)
    generator.generate(PROMPTS[:2], SamplingParams(max_tokens=4))
    # then
    assert (first.requests, second.requests) == (1, 1)


def test_every_base_url_passes_the_endpoint_policy_before_any_request(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    # given a listed endpoint and a second one on a cloud metadata address
    first, _ = servers
    urls = [first.base_url, "http://169.254.169.254/v1"]
    # when
    with pytest.raises(BackendError) as caught:
        OpenAIGenerator(urls, "fake", policy=LOOPBACK_POLICY)
    # then the model is refused for good, and no endpoint was asked anything
    assert str(caught.value) == (
        "endpoint host 169.254.169.254 is a link-local or cloud metadata address; model "
        "endpoints may never reach it"
    )
    assert caught.value.retryable is False
    assert first.requests == 0


def test_a_base_url_on_an_unlisted_loopback_port_is_refused_under_the_default_policy(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    # given the default policy (nothing private listed), a model whose further endpoint is local
    first, second = servers
    spec = ModelSpec(
        name="fake",
        kind="openai",
        path_or_endpoint="http://example.org/v1",
        options={"base_urls": [second.base_url]},
    )
    # when
    with pytest.raises(BackendError) as caught:
        load_generator(spec)
    # then
    assert str(caught.value) == (
        "base_urls: endpoint host 127.0.0.1 is a loopback, private or reserved address; an "
        "operator must list it in STEPWISE_ENDPOINT_ALLOWED_HOSTS"
    )
    assert caught.value.retryable is False
    assert (first.requests, second.requests) == (0, 0)
