"""An OpenAI-compatible HTTP server that stands in for a GPU server: it answers after a fixed
latency per request plus a fixed time per generated token, so the workers that call it wait
rather than compute (scale-out benchmarks and fault tests on a machine with two cores).

Completions and chat completions, `n` choices per prompt, token logprobs (the backend counts
tokens from them). The text is made from the prompt and the sample index, so it is the same
every time; it has two steps and no final answer, so nothing is sent to the answer checker.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAIServer:
    """`with FakeOpenAIServer(latency_s=0.2, per_token_s=0.01) as server: server.base_url`.

    Tests can `hold()` the answers: requests then wait (and count as `in_flight`) until
    `release()`, so a test knows that work is in a worker's hands when it injects a fault;
    `hold(after=k)` lets the first k requests through first. `fail(status, count)` answers the
    next requests with an HTTP error."""

    # A held request waits at most this long, so that a test that fails never hangs a worker.
    HOLD_LIMIT_S = 300.0

    def __init__(
        self, *, latency_s: float = 0.0, per_token_s: float = 0.0, tokens: int = 12
    ) -> None:
        self.latency_s = latency_s
        self.per_token_s = per_token_s
        self.tokens = tokens
        self.requests = 0
        self.prompts = 0
        self.in_flight = 0
        self._hold_after: int | None = None
        self._failures: list[int] = []
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def completion_text(self, prompt: str, index: int) -> str:
        words = prompt.split()
        return (
            f"The problem has {len(words)} words, sample {index}.\n\n"
            f"Its last word is {words[-1] if words else 'none'}."
        )

    def hold(self, after: int = 0) -> None:
        with self._lock:
            self._hold_after = self.requests + after
            self._open.clear()

    def release(self) -> None:
        with self._lock:
            self._hold_after = None
            self._open.set()

    def fail(self, status: int, count: int = 1) -> None:
        with self._lock:
            self._failures += [status] * count

    def next_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _count(self, prompts: int) -> bool:
        """Count a request; whether it is to be held."""
        with self._lock:
            self.requests += 1
            self.prompts += prompts
            return self._hold_after is not None and self.requests > self._hold_after

    def _wait(self, held: bool, max_tokens: int) -> int:
        """Sleep as a server generating `tokens` (at most max_tokens) would, after any hold;
        the token count."""
        tokens = min(self.tokens, max_tokens)
        with self._lock:
            self.in_flight += held
        try:
            if held:
                self._open.wait(self.HOLD_LIMIT_S)
            time.sleep(self.latency_s + tokens * self.per_token_s)
        finally:
            with self._lock:
                self.in_flight -= held
        return tokens

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        n = int(body.get("n") or 1)
        held = self._count(len(prompts))
        tokens = self._wait(held, int(body.get("max_tokens") or 16))
        choices = [
            {
                "index": p * n + i,
                "text": self.completion_text(prompt, i),
                "finish_reason": "stop",
                "logprobs": {
                    "tokens": [f"t{t}" for t in range(tokens)],
                    "token_logprobs": [-0.1] * tokens,
                    "top_logprobs": None,
                    "text_offset": list(range(tokens)),
                },
            }
            for p, prompt in enumerate(prompts)
            for i in range(n)
        ]
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": choices,
            "usage": _usage(len(choices) * tokens),
        }

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = str(body["messages"][-1]["content"])
        n = int(body.get("n") or 1)
        held = self._count(1)
        tokens = self._wait(held, int(body.get("max_tokens") or 16))
        content: list[dict[str, Any]] = [
            {"token": f"t{t}", "logprob": -0.1, "bytes": None, "top_logprobs": []}
            for t in range(tokens)
        ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": self.completion_text(prompt, i)},
                    "finish_reason": "stop",
                    "logprobs": {"content": content},
                }
                for i in range(n)
            ],
            "usage": _usage(n * tokens),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                failure = server.next_failure()
                if failure is not None:
                    self._send({"error": {"message": f"failing with {failure}"}}, status=failure)
                elif self.path.endswith("/chat/completions"):
                    self._send(server.chat(body))
                elif self.path.endswith("/completions"):
                    self._send(server.completions(body))
                else:
                    self._send({"error": {"message": f"no route {self.path}"}}, status=404)

            def _send(self, payload: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The worker that asked may have been killed while it waited.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # quiet
                pass

        return Handler


def _usage(completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": 0,
        "completion_tokens": completion_tokens,
        "total_tokens": completion_tokens,
    }
