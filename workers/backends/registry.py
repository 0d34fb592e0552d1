"""Model specs and a small per-process cache: a GPU worker loads a model once and keeps it."""

from __future__ import annotations

import atexit
import gc
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, cast

from algorithms.choices import BackendKind, ScorerHead
from algorithms.model_policy import BackendPolicy, check_model_config
from algorithms.sampling import SamplingParams
from workers.backends.base import BackendError, Generator, StepScorer
from workers.backends.guarded import policy_refusals
from workers.backends.judge_scorer import JudgeScorer
from workers.backends.openai_generator import OpenAIGenerator
from workers.backends.prm_scorers import MathShepherdScorer, QwenPRMScorer
from workers.backends.transformers_generator import TransformersGenerator
from workers.backends.vllm_generator import VLLMGenerator
from workers.backends.vllm_pooling_scorer import VLLMPoolingScorer


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: BackendKind
    path_or_endpoint: str
    dtype: str = "auto"
    max_length: int | None = None
    default_sampling: dict[str, Any] = field(default_factory=dict, hash=False)
    scorer_head: ScorerHead | None = None
    # Passed to the backend's constructor once the policy allows them (an allow-list per kind).
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    # Run Python code from the model directory (auto_map classes): only if an admin allowed it.
    trust_remote_code: bool = False

    def sampling_params(self, **overrides: Any) -> SamplingParams:
        return SamplingParams(**{**self.default_sampling, **overrides})

    def cache_key(self, role: str) -> Hashable:
        return (
            role,
            self.kind,
            self.path_or_endpoint,
            self.dtype,
            self.max_length,
            self.scorer_head,
            repr(sorted(self.options.items())),
            self.trust_remote_code,
        )


class ModelCache:
    """Least-recently-used models; evicting one releases it before the next is loaded."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        while len(self._entries) >= self.max_entries:
            _, evicted = self._entries.popitem(last=False)
            _release(evicted)
        model = load()
        self._entries[key] = model
        return model

    def clear(self) -> None:
        while self._entries:
            _release(self._entries.popitem()[1])

    def __len__(self) -> int:
        return len(self._entries)


def _release(model: Any) -> None:
    close = getattr(model, "close", None)
    if callable(close):
        close()
    del model
    gc.collect()


# One vLLM engine claims most of an accelerator's memory, so by default only one is kept.
vllm_cache = ModelCache(max_entries=1)
model_cache = ModelCache(max_entries=2)


def release_all() -> None:
    """Close every cached model. Registered to run at exit: a vLLM engine runs in a child
    process, and an interpreter exiting without shutting it down waits for it forever."""
    vllm_cache.clear()
    model_cache.clear()


atexit.register(release_all)


def configure_caches(*, vllm_entries: int = 1, other_entries: int = 2) -> None:
    global vllm_cache, model_cache
    vllm_cache.clear()
    model_cache.clear()
    vllm_cache = ModelCache(vllm_entries)
    model_cache = ModelCache(other_entries)


# Called just before a model is actually built (not on a cache hit), e.g. to tell a job's page.
OnLoad = Callable[[], None] | None


def _announced(build: Callable[[], Any], on_load: OnLoad) -> Callable[[], Any]:
    def load() -> Any:
        if on_load is not None:
            on_load()
        return build()

    return load


def load_generator(
    spec: ModelSpec, policy: BackendPolicy | None = None, *, on_load: OnLoad = None
) -> Generator:
    """The spec's generator, loaded once; the policy (the operator's; by default nothing
    private and no secrets) is checked first, on every call."""
    policy = _checked(spec, policy)
    cache = vllm_cache if spec.kind == "vllm" else model_cache
    return cast(
        Generator,
        cache.get_or_load(
            (spec.cache_key("generator"), policy),
            _announced(lambda: _build_generator(spec, policy), on_load),
        ),
    )


def load_scorer(
    spec: ModelSpec, policy: BackendPolicy | None = None, *, on_load: OnLoad = None
) -> StepScorer:
    if spec.scorer_head is None:
        raise BackendError(f"model {spec.name!r} has no scorer head configured", retryable=False)
    if spec.scorer_head == "judge":
        return JudgeScorer(load_generator(spec, policy, on_load=on_load), spec.sampling_params())
    if spec.kind == "vllm" and spec.scorer_head == "qwen-prm":
        _checked(spec, policy)
        return cast(
            StepScorer,
            vllm_cache.get_or_load(
                spec.cache_key("scorer"), _announced(lambda: _build_vllm_prm(spec), on_load)
            ),
        )
    if spec.kind != "transformers":
        raise BackendError(
            f"model {spec.name!r}: a {spec.scorer_head} head runs with kind 'transformers'"
            f"{' or vllm' if spec.scorer_head == 'qwen-prm' else ''}, not {spec.kind!r}",
            retryable=False,
        )
    _checked(spec, policy)
    return cast(
        StepScorer,
        model_cache.get_or_load(
            spec.cache_key("scorer"), _announced(lambda: _build_prm(spec), on_load)
        ),
    )


def _checked(spec: ModelSpec, policy: BackendPolicy | None) -> BackendPolicy:
    """A config is checked when it is saved, under the policy of that time (or was not, if
    saved before the checks); the worker checks the job's copy again under its own."""
    policy = policy or BackendPolicy()
    with policy_refusals():
        check_model_config(
            kind=spec.kind,
            scorer_head=spec.scorer_head,
            path_or_endpoint=spec.path_or_endpoint,
            options=spec.options,
            policy=policy,
        )
    return policy


def _build_generator(spec: ModelSpec, policy: BackendPolicy) -> Generator:
    if spec.kind == "vllm":
        return VLLMGenerator(
            spec.path_or_endpoint,
            dtype=spec.dtype,
            max_model_len=spec.max_length,
            engine_options=spec.options,
            trust_remote_code=spec.trust_remote_code,
        )
    if spec.kind == "openai":
        options = dict(spec.options)
        # More endpoints serving the same model: requests are spread over all of them.
        urls = [spec.path_or_endpoint, *options.pop("base_urls", [])]
        return OpenAIGenerator(urls, spec.name, policy=policy, **options)
    if spec.kind == "transformers":
        return TransformersGenerator(
            spec.path_or_endpoint,
            dtype=spec.dtype,
            trust_remote_code=spec.trust_remote_code,
            **spec.options,
        )
    raise BackendError(f"unknown backend kind {spec.kind!r}", retryable=False)


def _build_vllm_prm(spec: ModelSpec) -> StepScorer:
    engine_options = dict(spec.options)
    # The scorer's own input options; the rest go to the engine.
    marker = {
        key: engine_options.pop(key)
        for key in ("step_separator", "system_prompt")
        if key in engine_options
    }
    return VLLMPoolingScorer(
        spec.path_or_endpoint,
        dtype=spec.dtype,
        max_model_len=spec.max_length,
        engine_options=engine_options,
        trust_remote_code=spec.trust_remote_code,
        **marker,
    )


def _build_prm(spec: ModelSpec) -> StepScorer:
    scorer_class = MathShepherdScorer if spec.scorer_head == "math-shepherd" else QwenPRMScorer
    return scorer_class(
        spec.path_or_endpoint,
        dtype=spec.dtype,
        max_length=spec.max_length,
        trust_remote_code=spec.trust_remote_code,
        **spec.options,
    )
