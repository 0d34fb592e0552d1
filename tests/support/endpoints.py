"""A real HTTP server on 127.0.0.1 that answers like an OpenAI-compatible endpoint would, with
the answers a test scripts, and records every request it gets (path and headers)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from algorithms.endpoints import EndpointPolicy
from algorithms.model_policy import BackendPolicy

# What the tests' operator allows: endpoints on 127.0.0.1 (the test servers) and one key.
LOOPBACK_POLICY = BackendPolicy(
    endpoints=EndpointPolicy.from_entries(["127.0.0.1"]),
    secret_envs=frozenset({"STEPWISE_TEST_API_KEY"}),
)
# The same for a worker process (WorkerProcess(env=...)) that calls a test server.
LOOPBACK_ENV = {"STEPWISE_ENDPOINT_ALLOWED_HOSTS": "127.0.0.1"}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedEndpoint:
    """Answers POSTs with `answers` in turn, repeating the last one, or with what `respond`
    makes of each request's JSON body."""

    answers: list[Answer]
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    respond: Callable[[dict[str, Any]], Answer] | None = None

    def next_answer(self) -> Answer:
        return self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]


def chat_completion(text: str) -> dict[str, Any]:
    return {
        "id": "chat-1",
        "object": "chat.completion",
        "created": 0,
        "model": "judge",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@contextmanager
def scripted_endpoint(
    *answers: Answer, respond: Callable[[dict[str, Any]], Answer] | None = None
) -> Iterator[ScriptedEndpoint]:
    endpoint = ScriptedEndpoint(list(answers), respond=respond)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            endpoint.requests.append({"path": self.path, "headers": dict(self.headers)})
            if endpoint.respond is not None:
                answer = endpoint.respond(json.loads(body))
            else:
                answer = endpoint.next_answer()
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
