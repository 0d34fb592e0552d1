"""Session-scoped tiny models, one shared in-process vLLM engine and one vLLM api_server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoints import LOOPBACK_POLICY
from workers.testing.tiny_models import build_tiny_causal_lm, build_tiny_prm
from workers.testing.vllm_cpu import (
    CPU_ENGINE_OPTIONS,
    REQUEST_TIMEOUT_S,
    openai_compatible_server,
)

SERVED_MODEL_NAME = "tiny-lm"


@pytest.fixture(scope="session")
def tiny_lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), seed=0)


@pytest.fixture(scope="session")
def math_shepherd_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_prm(tmp_path_factory.mktemp("tiny-math-shepherd"), "math-shepherd", seed=1)


@pytest.fixture(scope="session")
def qwen_prm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_prm(tmp_path_factory.mktemp("tiny-qwen-prm"), "qwen-prm", seed=2)


@pytest.fixture(scope="session")
def transformers_generator(tiny_lm_path: Path) -> Any:
    from workers.backends.transformers_generator import TransformersGenerator

    return TransformersGenerator(tiny_lm_path, batch_size=4)


@pytest.fixture(scope="session")
def vllm_generator(tiny_lm_path: Path) -> Iterator[Any]:
    from workers.backends.vllm_generator import VLLMGenerator

    generator = VLLMGenerator(
        tiny_lm_path, dtype="float32", max_model_len=1024, engine_options=CPU_ENGINE_OPTIONS
    )
    yield generator
    generator.close()


@pytest.fixture(scope="session")
def openai_generator(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The OpenAI-compatible backend talking to a real vLLM api_server on loopback."""
    from workers.backends.openai_generator import OpenAIGenerator

    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    with openai_compatible_server(tiny_lm_path, SERVED_MODEL_NAME, log_path) as base_url:
        yield OpenAIGenerator(
            base_url, SERVED_MODEL_NAME, timeout_s=REQUEST_TIMEOUT_S, policy=LOOPBACK_POLICY
        )
