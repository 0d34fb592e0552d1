from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from algorithms.sampling import SamplingParams
from workers.backends.base import BackendError
from workers.backends.transformers_generator import TransformersGenerator, truncate_at_stop
from workers.testing.vllm_cpu import plain_word_in

pytestmark = pytest.mark.models

PROMPTS = ["Ann has 3 apples and gets 4 more.", "Let x + 2 = 5. Then", "Step 1:"]


def test_truncate_at_stop_cuts_before_the_earliest_stop_string() -> None:
    assert truncate_at_stop("a = 3. So b = 4. Done", [".", " b"]) == ("a = 3", True)
    assert truncate_at_stop("no stop here", ["###"]) == ("no stop here", False)
    assert truncate_at_stop("anything", []) == ("anything", False)


def test_generate_returns_n_samples_per_prompt(transformers_generator: Any) -> None:
    # when
    results = transformers_generator.generate(PROMPTS, SamplingParams(n=3, max_tokens=12, seed=1))

    # then
    assert [len(samples) for samples in results] == [3, 3, 3]
    for samples in results:
        assert len({sample.text for sample in samples}) == 3
        for sample in samples:
            assert sample.finish_reason in ("stop", "length")
            assert 1 <= sample.token_count <= 12


def test_same_seed_gives_same_texts_and_another_seed_differs(
    transformers_generator: Any,
) -> None:
    # given
    params = SamplingParams(n=2, max_tokens=16, seed=7)

    # when
    first = transformers_generator.generate(PROMPTS, params)
    again = transformers_generator.generate(PROMPTS, params)
    other = transformers_generator.generate(PROMPTS, SamplingParams(n=2, max_tokens=16, seed=8))

    # then
    assert first == again
    assert [s.text for samples in first for s in samples] != [
        s.text for samples in other for s in samples
    ]


def test_stop_string_ends_the_text_before_it(transformers_generator: Any) -> None:
    # given: an unstopped sample and a word from its middle
    params = SamplingParams(n=1, max_tokens=40, seed=3)
    [[full]] = transformers_generator.generate([PROMPTS[0]], params)
    stop = plain_word_in(full.text)

    # when: the same seeded request is repeated with that word as a stop string
    [[stopped]] = transformers_generator.generate(
        [PROMPTS[0]], SamplingParams(n=1, max_tokens=40, seed=3, stop=[stop])
    )

    # then
    assert stopped.text == full.text[: full.text.index(stop)]
    assert stopped.finish_reason == "stop"
    assert stopped.token_count < full.token_count


def test_batched_prompts_are_left_padded_and_match_one_by_one_generation(
    transformers_generator: Any,
) -> None:
    # given: prompts of different token lengths, greedy decoding
    params = SamplingParams(temperature=0.0, max_tokens=10)
    lengths = {len(transformers_generator.tokenizer(p)["input_ids"]) for p in PROMPTS}
    assert len(lengths) == 3

    # when
    batched = transformers_generator.generate(PROMPTS, params)
    alone = [transformers_generator.generate([prompt], params)[0] for prompt in PROMPTS]

    # then
    assert transformers_generator.tokenizer.padding_side == "left"
    assert batched == alone


def test_chat_uses_the_model_chat_template(transformers_generator: Any) -> None:
    # given
    params = SamplingParams(n=2, max_tokens=8, seed=5)
    rendered = "<|system|>\nBe brief.</s>\n<|user|>\nWhat is 2 + 2?</s>\n<|assistant|>\n"

    # when
    chat = transformers_generator.generate_chat(
        [
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2 + 2?"},
            ]
        ],
        params,
    )

    # then
    assert chat == transformers_generator.generate([rendered], params)
    assert len(chat[0]) == 2


def test_missing_model_is_a_non_retryable_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as caught:
        TransformersGenerator(tmp_path / "no-such-model")

    assert caught.value.retryable is False
