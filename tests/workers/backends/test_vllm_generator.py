from __future__ import annotations

from typing import Any

import pytest

from algorithms.sampling import SamplingParams
from workers.testing.vllm_cpu import plain_word_in

pytestmark = pytest.mark.models

PROMPTS = ["Ann has 3 apples and gets 4 more.", "Let x + 2 = 5. Then", "Step 1:"]


def test_vllm_returns_n_distinct_samples_per_prompt(vllm_generator: Any) -> None:
    # when
    results = vllm_generator.generate(PROMPTS, SamplingParams(n=3, max_tokens=12, seed=1))

    # then
    assert [len(samples) for samples in results] == [3, 3, 3]
    for samples in results:
        assert len({sample.text for sample in samples}) == 3
        for sample in samples:
            assert sample.finish_reason in ("stop", "length")
            assert 1 <= sample.token_count <= 12


def test_vllm_same_seed_gives_same_texts_and_another_seed_differs(vllm_generator: Any) -> None:
    # when
    first = vllm_generator.generate(PROMPTS, SamplingParams(n=2, max_tokens=16, seed=7))
    again = vllm_generator.generate(PROMPTS, SamplingParams(n=2, max_tokens=16, seed=7))
    other = vllm_generator.generate(PROMPTS, SamplingParams(n=2, max_tokens=16, seed=8))

    # then
    assert first == again
    assert first != other


def test_vllm_stop_string_ends_the_text_before_it(vllm_generator: Any) -> None:
    # given: an unstopped sample and a plain word from its middle
    [[full]] = vllm_generator.generate([PROMPTS[0]], SamplingParams(max_tokens=40, seed=3))
    stop = plain_word_in(full.text)

    # when
    [[stopped]] = vllm_generator.generate(
        [PROMPTS[0]], SamplingParams(max_tokens=40, seed=3, stop=[stop])
    )

    # then
    assert stopped.text == full.text[: full.text.index(stop)]
    assert stopped.finish_reason == "stop"
    assert stopped.token_count < full.token_count


def test_vllm_greedy_text_matches_transformers_on_the_same_weights(
    vllm_generator: Any, transformers_generator: Any
) -> None:
    params = SamplingParams(temperature=0.0, max_tokens=8)

    assert vllm_generator.generate(PROMPTS, params) == transformers_generator.generate(
        PROMPTS, params
    )


def test_vllm_chat_renders_the_model_chat_template(vllm_generator: Any) -> None:
    # given
    params = SamplingParams(n=2, max_tokens=8, seed=5)
    rendered = "<|user|>\nWhat is 2 + 2?</s>\n<|assistant|>\n"

    # when
    chat = vllm_generator.generate_chat([[{"role": "user", "content": "What is 2 + 2?"}]], params)

    # then
    assert chat == vllm_generator.generate([rendered], params)
    assert len(chat[0]) == 2
