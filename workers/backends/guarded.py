"""The operator's model-config policy (algorithms.model_policy, algorithms.endpoints) enforced on
the worker: its refusals as non-retryable BackendErrors, and an HTTP client that connects only
where the policy allows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from algorithms.endpoints import EndpointPolicy
from algorithms.model_errors import PolicyViolation
from workers.backends.base import BackendError


@contextmanager
def policy_refusals() -> Iterator[None]:
    try:
        yield
    except PolicyViolation as error:
        raise BackendError(str(error), retryable=False) from error


def guarded_http_client(policy: EndpointPolicy, *, timeout_s: float) -> Any:
    """An HTTP client (httpx2, the OpenAI SDK's) that connects only to addresses `policy`
    allows and follows no redirect. Each new connection resolves the host, checks every
    address and connects to a checked one; TLS still verifies the certificate for the host
    name. A refusal raises EndpointRefused, which the SDK passes on as it is."""
    import httpcore2
    import httpx2

    class GuardedBackend(httpcore2.SyncBackend):
        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore2.NetworkStream:
            try:
                address = policy.resolve(host, port)[0]
            except PolicyViolation:
                raise
            except OSError as error:  # the name does not resolve: may pass on a retry
                raise httpcore2.ConnectError(str(error)) from error
            return super().connect_tcp(str(address), port, timeout, local_address, socket_options)

    class GuardedTransport(httpx2.HTTPTransport):
        def __init__(self) -> None:
            # No proxy from the environment: the connection must go where it was checked.
            super().__init__(trust_env=False)
            self._pool = httpcore2.ConnectionPool(
                ssl_context=httpx2.create_ssl_context(trust_env=False),
                network_backend=GuardedBackend(),
            )

    return httpx2.Client(
        transport=GuardedTransport(), follow_redirects=False, timeout=timeout_s, trust_env=False
    )
