"""The OpenAI-compatible backend against a real `vllm` api_server process on loopback."""

from __future__ import annotations

import pytest

from algorithms.sampling import SamplingParams
from tests.support.endpoints import LOOPBACK_POLICY
from workers.backends.base import BackendError
from workers.backends.openai_generator import OpenAIGenerator
from workers.testing.vllm_cpu import REQUEST_TIMEOUT_S, free_port, plain_word_in

pytestmark = pytest.mark.models

PROMPTS = ["Ann has 3 apples and gets 4 more.", "Let x + 2 = 5. Then"]


def test_completions_return_n_seeded_samples_per_prompt(openai_generator: OpenAIGenerator) -> None:
    # given
    params = SamplingParams(n=3, max_tokens=12, seed=11)

    # when
    first = openai_generator.generate(PROMPTS, params)
    again = openai_generator.generate(PROMPTS, params)

    # then
    assert first == again
    assert [len(samples) for samples in first] == [3, 3]
    for samples in first:
        assert len({sample.text for sample in samples}) == 3
        assert [sample.token_count for sample in samples] == [12, 12, 12]
        assert [sample.finish_reason for sample in samples] == ["length"] * 3


def test_completions_honour_stop_strings(openai_generator: OpenAIGenerator) -> None:
    # given
    [[full]] = openai_generator.generate([PROMPTS[0]], SamplingParams(max_tokens=40, seed=3))
    stop = plain_word_in(full.text)

    # when
    [[stopped]] = openai_generator.generate(
        [PROMPTS[0]], SamplingParams(max_tokens=40, seed=3, stop=[stop])
    )

    # then
    assert stopped.text == full.text[: full.text.index(stop)]
    assert stopped.finish_reason == "stop"


def test_chat_completions_match_completions_of_the_rendered_template(
    openai_generator: OpenAIGenerator,
) -> None:
    # given
    params = SamplingParams(n=2, max_tokens=8, seed=5)
    rendered = "<|user|>\nWhat is 2 + 2?</s>\n<|assistant|>\n"

    # when
    chat = openai_generator.generate_chat(
        [[{"role": "user", "content": "What is 2 + 2?"}]] * 2, params
    )

    # then
    assert [len(samples) for samples in chat] == [2, 2]
    assert chat[0] == openai_generator.generate([rendered], params)[0]


def test_unknown_model_name_is_not_retryable(openai_generator: OpenAIGenerator) -> None:
    base_url = str(openai_generator.client.base_url)
    generator = OpenAIGenerator(
        base_url, "no-such-model", timeout_s=REQUEST_TIMEOUT_S, policy=LOOPBACK_POLICY
    )

    with pytest.raises(BackendError, match=r"rejected the request \(404\)") as caught:
        generator.generate(PROMPTS, SamplingParams(max_tokens=4))

    assert caught.value.retryable is False


def test_refused_connection_is_retryable() -> None:
    generator = OpenAIGenerator(
        f"http://127.0.0.1:{free_port()}/v1", "tiny-lm", timeout_s=5, policy=LOOPBACK_POLICY
    )

    with pytest.raises(BackendError, match="endpoint unavailable") as caught:
        generator.generate(PROMPTS, SamplingParams(max_tokens=4))

    assert caught.value.retryable is True


def test_the_api_key_is_read_from_the_variable_the_config_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the worker's environment holds the key
    monkeypatch.setenv("STEPWISE_TEST_API_KEY", "sk-from-env")
    url = f"http://127.0.0.1:{free_port()}/v1"

    # when generators are built with and without the variable's name
    keyed = OpenAIGenerator(
        url, "tiny-lm", api_key_env="STEPWISE_TEST_API_KEY", policy=LOOPBACK_POLICY
    )
    local = OpenAIGenerator(url, "tiny-lm", policy=LOOPBACK_POLICY)

    # then
    assert (keyed.client.api_key, local.client.api_key) == ("sk-from-env", "EMPTY")


def test_a_missing_key_variable_is_not_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPWISE_TEST_API_KEY", raising=False)

    with pytest.raises(BackendError) as caught:
        OpenAIGenerator(
            "http://127.0.0.1:1/v1",
            "tiny-lm",
            api_key_env="STEPWISE_TEST_API_KEY",
            policy=LOOPBACK_POLICY,
        )

    assert str(caught.value) == (
        "the worker's environment has no STEPWISE_TEST_API_KEY (the model's api_key_env); set it "
        "where the GPU worker starts"
    )
    assert caught.value.retryable is False
