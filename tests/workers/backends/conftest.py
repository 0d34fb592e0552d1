"""Session-scoped tiny models, one shared in-process vLLM engine and one `vllm serve` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workers.testing.tiny_models import build_tiny_causal_lm, build_tiny_prm

# vLLM's CPU build sizes its KV cache from this instead of a fraction of free memory.
VLLM_CPU_ENGINE_OPTIONS: dict[str, Any] = {
    "kv_cache_memory_bytes": 256 * 1024**2,
    "enforce_eager": True,
}
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
        tiny_lm_path, dtype="float32", max_model_len=1024, engine_options=VLLM_CPU_ENGINE_OPTIONS
    )
    yield generator
    generator.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_health(url: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"vllm serve exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"vllm serve did not answer {url} within {timeout_s} s")


@pytest.fixture(scope="session")
def openai_base_url(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenAI-compatible server: vLLM's api_server on a free loopback port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(tiny_lm_path),
        "--served-model-name",
        SERVED_MODEL_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        "1024",
        "--kv-cache-memory-bytes",
        str(VLLM_CPU_ENGINE_OPTIONS["kv_cache_memory_bytes"]),
        "--enforce-eager",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        try:
            wait_for_health(f"http://127.0.0.1:{port}/health", server, timeout_s=180)
            yield f"http://127.0.0.1:{port}/v1"
        except RuntimeError as error:
            raise RuntimeError(f"{error}; log:\n{log_path.read_text()[-4000:]}") from error
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
