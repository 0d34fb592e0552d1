"""Running vLLM's CPU build with tiny models: engine options and an api_server subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# On CPU vLLM sizes its KV cache from free RAM unless told; eager mode skips graph warm-up.
CPU_ENGINE_OPTIONS: dict[str, Any] = {
    "kv_cache_memory_bytes": 256 * 1024**2,
    "enforce_eager": True,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_health(url: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"vLLM api_server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"vLLM api_server did not answer {url} within {timeout_s} s")


@contextmanager
def openai_compatible_server(
    model_path: str | Path, served_name: str, log_path: Path, *, timeout_s: float = 180
) -> Iterator[str]:
    """Serve `model_path` with vLLM's OpenAI-compatible api_server on a free loopback port.

    Yields the base URL (http://127.0.0.1:<port>/v1); stops the server on exit.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        *("--model", str(model_path), "--served-model-name", served_name),
        *("--host", "127.0.0.1", "--port", str(port), "--dtype", "float32"),
        *("--max-model-len", "1024"),
        *("--kv-cache-memory-bytes", str(CPU_ENGINE_OPTIONS["kv_cache_memory_bytes"])),
        "--enforce-eager",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                _wait_for_health(f"http://127.0.0.1:{port}/health", server, timeout_s)
            except RuntimeError as error:
                raise RuntimeError(f"{error}; log tail:\n{log_path.read_text()[-4000:]}") from error
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def plain_word_in(text: str, *, after: int = 4) -> str:
    """The first ASCII alphanumeric word of `text[after:]`: a stop string known to occur."""
    words = [word for word in text[after:].split() if word.isascii() and word.isalnum()]
    if not words:
        raise ValueError(f"no plain word in {text!r}")
    return words[0]
