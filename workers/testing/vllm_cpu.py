"""Running vLLM's CPU build with tiny models: engine options and an api_server subprocess."""

from __future__ import annotations

import json
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

# A request's timeout in tests: a guard against a hung server, not a measure of speed (the
# server is warmed up before anything is timed, and a loaded machine may still be slow).
REQUEST_TIMEOUT_S = 600

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


def _warm_up(
    base_url: str, served_name: str, server: subprocess.Popen[bytes], timeout_s: float
) -> None:
    """One tiny completion before anyone times a request: the first one after start-up pays
    for the engine's warm-up, which on a loaded machine takes longer than a request's timeout."""
    body = json.dumps({"model": served_name, "prompt": "warm up", "max_tokens": 1}).encode()
    request = urllib.request.Request(
        f"{base_url}/completions", data=body, headers={"Content-Type": "application/json"}
    )
    if server.poll() is not None:
        raise RuntimeError(f"vLLM api_server exited with code {server.returncode}")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        if response.status != 200:
            raise RuntimeError(f"vLLM api_server answered the warm-up with {response.status}")


@contextmanager
def openai_compatible_server(
    model_path: str | Path, served_name: str, log_path: Path, *, timeout_s: float = 180
) -> Iterator[str]:
    """Serve `model_path` with vLLM's OpenAI-compatible api_server on a free loopback port.

    Yields the base URL (http://127.0.0.1:<port>/v1) once the server is up and has answered
    one completion; stops the server on exit.
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
            base_url = f"http://127.0.0.1:{port}/v1"
            try:
                _wait_for_health(f"http://127.0.0.1:{port}/health", server, timeout_s)
                _warm_up(base_url, served_name, server, timeout_s)
            except (RuntimeError, OSError) as error:
                raise RuntimeError(f"{error}; log tail:\n{log_path.read_text()[-4000:]}") from error
            yield base_url
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
