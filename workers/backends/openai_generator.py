"""Text generation through any OpenAI-compatible HTTP endpoint (e.g. `vllm serve`)."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, TypeVar

from algorithms.log_safety import escape_controls
from algorithms.model_policy import BackendPolicy, check_api_key_env
from workers.backends.base import (
    BackendError,
    ChatMessage,
    Generation,
    SamplingParams,
    finish_reason_from,
)
from workers.backends.guarded import guarded_http_client, policy_refusals

# An endpoint's own error text is shown at most this long, escaped: enough for "model x does
# not exist", too short to carry a page of what the endpoint can see.
REASON_CHARS = 120

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def api_key_from_environment(variable: str | None, endpoint: str, policy: BackendPolicy) -> str:
    """The key is read on the worker, from the variable the model config names: keys stay out of
    the database, job parameters and pages. Only a variable the operator allow-lists is read,
    for a host the operator lists. No variable: a local endpoint without a key."""
    if variable is None:
        return "EMPTY"
    check_api_key_env(variable, endpoint, policy)
    key = os.environ.get(variable)
    if not key:
        raise BackendError(
            f"the worker's environment has no {variable} (the model's api_key_env); set it "
            "where the GPU worker starts",
            retryable=False,
        )
    return key


class OpenAIGenerator:
    """Completions and chat completions against `base_url` (e.g. http://host:8000/v1), or
    spread over several endpoints serving the same model (a list of base URLs: one
    `vllm serve` per GPU or per tensor-parallel group).

    Requests go to the endpoints in turn, up to `concurrent_requests` at a time (by default
    one per endpoint); an endpoint that cannot be reached is skipped for the next one, and the
    error is raised only when none answers. Token counts come from the per-token logprobs the
    request asks for; an endpoint that returns none gets the usage total split evenly over the
    choices.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 120.0,
        prompts_per_request: int = 16,
        concurrent_requests: int | None = None,
        policy: BackendPolicy | None = None,
    ) -> None:
        policy = policy or BackendPolicy()
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise BackendError("an OpenAI-compatible model needs a base URL", retryable=False)
        self.clients = [_guarded_client(url, api_key_env, timeout_s, policy) for url in urls]
        self.client = self.clients[0]
        self.model = model
        self.prompts_per_request = prompts_per_request
        self.concurrent_requests = concurrent_requests or len(self.clients)
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Generation]]:
        batches = [
            list(prompts[start : start + self.prompts_per_request])
            for start in range(0, len(prompts), self.prompts_per_request)
        ]

        def complete(batch: list[str]) -> list[list[Generation]]:
            response = self._send(
                lambda client: client.completions.create(
                    model=self.model, prompt=batch, logprobs=0, **_request_params(params)
                )
            )
            # Choices come back flat, prompt-major: index = prompt_position * n + sample.
            choices = sorted(response.choices, key=lambda choice: choice.index)
            generations = [
                Generation(
                    text=choice.text,
                    token_count=_token_count(choice, response, len(choices)),
                    finish_reason=finish_reason_from(choice.finish_reason, source="completion"),
                )
                for choice in choices
            ]
            return [generations[i : i + params.n] for i in range(0, len(generations), params.n)]

        return [samples for batch in self._map(complete, batches) for samples in batch]

    def generate_chat(
        self, messages_list: Sequence[Sequence[ChatMessage]], params: SamplingParams
    ) -> list[list[Generation]]:
        def chat(messages: Sequence[ChatMessage]) -> list[Generation]:
            response = self._send(
                lambda client: client.chat.completions.create(
                    model=self.model,
                    messages=[dict(message) for message in messages],
                    logprobs=True,
                    top_logprobs=0,
                    **_request_params(params),
                )
            )
            choices = sorted(response.choices, key=lambda choice: choice.index)
            return [
                Generation(
                    text=choice.message.content or "",
                    token_count=_token_count(choice, response, len(choices)),
                    finish_reason=finish_reason_from(choice.finish_reason, source="chat"),
                )
                for choice in choices
            ]

        return self._map(chat, list(messages_list))

    def _map(self, request: Callable[[_Item], _Result], items: list[_Item]) -> list[_Result]:
        """`request` for each item, in order, up to `concurrent_requests` at a time."""
        if self.concurrent_requests == 1 or len(items) <= 1:
            return [request(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrent_requests, len(items))) as pool:
            return list(pool.map(request, items))

    def _send(self, request: Callable[[Any], _Result]) -> _Result:
        """Send a request to the next endpoint in turn, skipping those that cannot be reached."""
        import openai

        with self._turn_lock:
            first = next(self._turn)
        for attempt in range(len(self.clients)):
            client = self.clients[(first + attempt) % len(self.clients)]
            try:
                with _backend_errors():
                    return request(client)
            except BackendError as error:
                unreachable = isinstance(error.__cause__, openai.APIConnectionError)
                if not unreachable or attempt + 1 == len(self.clients):
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises


def _guarded_client(
    url: str, api_key_env: str | None, timeout_s: float, policy: BackendPolicy
) -> Any:
    """A client of one endpoint: its URL passes the operator's endpoint policy, the key goes
    only to a host the operator lists, and connections go only to addresses the policy allows."""
    from openai import OpenAI

    with policy_refusals():
        policy.endpoints.check_url(url)
        api_key = api_key_from_environment(api_key_env, url, policy)
    # Retries belong to the caller (the task queue), which knows BackendError.retryable.
    return OpenAI(
        base_url=url,
        api_key=api_key,
        timeout=timeout_s,
        max_retries=0,
        http_client=guarded_http_client(policy.endpoints, timeout_s=timeout_s),
    )


def _request_params(params: SamplingParams) -> dict[str, Any]:
    request: dict[str, Any] = {
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
    }
    if params.seed is not None:
        request["seed"] = params.seed
    if params.stop:
        request["stop"] = list(params.stop)
    return request


def _token_count(choice: Any, response: Any, choice_count: int) -> int:
    logprobs = choice.logprobs
    if logprobs is not None:
        # Completions list `tokens`; chat completions list `content` entries.
        tokens = getattr(logprobs, "tokens", None)
        if tokens is None:
            tokens = getattr(logprobs, "content", None)
        if tokens is not None:
            return len(tokens)
    if response.usage is None:
        raise BackendError("endpoint returned neither logprobs nor usage", retryable=False)
    return int(response.usage.completion_tokens // choice_count)


@contextmanager
def _backend_errors() -> Iterator[None]:
    """Map the client's errors; an endpoint's answer is summarised, never passed on whole."""
    import openai

    try:
        with policy_refusals():  # an address the endpoint policy refuses, met on connecting
            yield
    except openai.APIStatusError as error:
        status = error.status_code
        raise BackendError(
            f"OpenAI-compatible endpoint rejected the request ({status}): "
            f"{_reason(error.body, status)}",
            retryable=status in (408, 409, 429) or status >= 500,
        ) from error
    except openai.APIConnectionError as error:
        # Refused connections, timeouts and names that do not resolve may pass later.
        raise BackendError(
            f"OpenAI-compatible endpoint unavailable: {escape_controls(str(error))}",
            retryable=True,
        ) from error
    except openai.APIError as error:
        raise BackendError(
            "OpenAI-compatible endpoint sent an answer that cannot be read "
            f"({type(error).__name__})",
            retryable=False,
        ) from error


def _reason(body: object, status: int) -> str:
    """The error message of an OpenAI-style body, cut short and escaped; else the status's
    standard phrase."""
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    if not isinstance(message, str) or not message.strip():
        try:
            return HTTPStatus(status).phrase
        except ValueError:
            return "no reason given"
    text = escape_controls(message.strip())
    return text if len(text) <= REASON_CHARS else f"{text[:REASON_CHARS]}... (cut)"
