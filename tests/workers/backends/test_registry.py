from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from algorithms.sampling import SamplingParams
from workers.backends import registry
from workers.backends.base import BackendError
from workers.backends.judge_scorer import JudgeScorer
from workers.backends.prm_scorers import MathShepherdScorer, QwenPRMScorer
from workers.backends.registry import ModelCache, ModelSpec, load_generator, load_scorer
from workers.backends.transformers_generator import TransformersGenerator


class Closable:
    def __init__(self, name: str, closed: list[str]) -> None:
        self.name = name
        self.closed = closed

    def close(self) -> None:
        self.closed.append(self.name)


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    registry.configure_caches()
    yield
    registry.configure_caches()


def test_cache_keeps_the_most_recently_used_models_and_closes_evicted_ones() -> None:
    # given
    closed: list[str] = []
    loads: list[str] = []
    cache = ModelCache(max_entries=2)

    def loader(name: str) -> Callable[[], Closable]:
        def load() -> Closable:
            loads.append(name)
            return Closable(name, closed)

        return load

    # when
    a = cache.get_or_load("a", loader("a"))
    cache.get_or_load("b", loader("b"))
    assert cache.get_or_load("a", loader("a")) is a
    cache.get_or_load("c", loader("c"))

    # then: "b" was least recently used
    assert loads == ["a", "b", "c"]
    assert closed == ["b"]
    assert len(cache) == 2
    cache.clear()
    assert sorted(closed) == ["a", "b", "c"]


def test_spec_sampling_defaults_merge_with_overrides() -> None:
    spec = ModelSpec(
        name="m",
        kind="openai",
        path_or_endpoint="http://127.0.0.1:1/v1",
        default_sampling={"temperature": 0.7, "max_tokens": 64},
    )

    assert spec.sampling_params(n=4) == SamplingParams(n=4, temperature=0.7, max_tokens=64)


@pytest.mark.models
def test_generator_is_loaded_once_and_reused(tiny_lm_path: Path, fresh_caches: None) -> None:
    spec = ModelSpec(name="tiny", kind="transformers", path_or_endpoint=str(tiny_lm_path))

    loads: list[str] = []

    first = load_generator(spec, on_load=lambda: loads.append("loading"))

    assert isinstance(first, TransformersGenerator)
    assert load_generator(spec, on_load=lambda: loads.append("again")) is first
    assert loads == ["loading"]  # the hook runs before a real load, not on a cache hit


@pytest.mark.models
def test_scorer_heads_load_their_scorer_classes(
    math_shepherd_path: Path, qwen_prm_path: Path, tiny_lm_path: Path, fresh_caches: None
) -> None:
    def spec(path: Path, head: registry.ScorerHead) -> ModelSpec:
        return ModelSpec(
            name=head, kind="transformers", path_or_endpoint=str(path), scorer_head=head
        )

    assert isinstance(load_scorer(spec(math_shepherd_path, "math-shepherd")), MathShepherdScorer)
    assert isinstance(load_scorer(spec(qwen_prm_path, "qwen-prm")), QwenPRMScorer)
    judge = load_scorer(spec(tiny_lm_path, "judge"))
    assert isinstance(judge, JudgeScorer)
    assert isinstance(judge.generator, TransformersGenerator)


def test_a_model_without_a_scorer_head_cannot_score() -> None:
    spec = ModelSpec(name="gen-only", kind="vllm", path_or_endpoint="/models/x")

    with pytest.raises(BackendError, match="model 'gen-only' has no scorer head") as caught:
        load_scorer(spec)

    assert caught.value.retryable is False


def test_a_math_shepherd_head_needs_the_transformers_backend() -> None:
    spec = ModelSpec(
        name="prm", kind="vllm", path_or_endpoint="/models/prm", scorer_head="math-shepherd"
    )

    with pytest.raises(BackendError, match="runs with kind 'transformers', not 'vllm'"):
        load_scorer(spec)


def test_a_qwen_prm_head_cannot_run_behind_an_openai_endpoint() -> None:
    spec = ModelSpec(
        name="prm", kind="openai", path_or_endpoint="http://127.0.0.1:1/v1", scorer_head="qwen-prm"
    )

    with pytest.raises(BackendError, match="runs with kind 'transformers' or vllm, not 'openai'"):
        load_scorer(spec)
