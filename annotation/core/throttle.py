"""Login throttling (django-axes): the client address failures are counted by, and the answer
to a throttled login."""

from ipaddress import ip_address
from typing import Any

from django.conf import settings
from django.shortcuts import render


def _address(value: str | None) -> str | None:
    try:
        return str(ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request: Any) -> str | None:
    """REMOTE_ADDR, or the last entry of the proxy header named by STEPWISE_PROXY_IP_HEADER
    (the address the nearest proxy saw; entries before it are the client's own claims).
    A header that is not set or not an address falls back to REMOTE_ADDR, so a client cannot
    choose its address unless an operator configured a proxy that sets it."""
    meta = request.META
    header = settings.STEPWISE_PROXY_IP_HEADER
    if header:
        proxied = _address(meta.get(header, "").rsplit(",", 1)[-1])
        if proxied is not None:
            return proxied
    return _address(meta.get("REMOTE_ADDR"))


def locked_out(request: Any, original_response: Any = None, credentials: Any = None) -> Any:
    """django-axes' answer to a throttled login: 429 with a page that says how long to wait."""
    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    context = {
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": f"{minutes:g}",
    }
    return render(request, "registration/locked_out.html", context, status=429)
