"""Throttles: failed logins (django-axes) counted per account and per client, API use (DRF)
per user and per anonymous client, all by the client address `client_ip` gives."""

import math
from ipaddress import ip_address
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.shortcuts import render
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


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


# Failed logins ---------------------------------------------------------------------------------

ADDRESS_ONLY = ("ip_address", ["ip_address"])


class LoginFailures(AxesDatabaseHandler):
    """Axes' database handler with a limit of its own for a client address.

    AXES_LOCKOUT_PARAMETERS counts failures per username, per (username, address) and per
    address; axes compares the largest count with one limit, AXES_FAILURE_LIMIT. Many people
    may share an address (an office behind one NAT), so an address alone gets a larger limit,
    STEPWISE_LOGIN_IP_FAILURE_LIMIT: its count is scaled to AXES_FAILURE_LIMIT, reaching it
    exactly when the address reaches its own."""

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        parameters = get_lockout_parameters(request, credentials)
        counts = []
        for parameter, attempts in zip(
            parameters, self.get_user_attempts(request, credentials), strict=True
        ):
            count = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            if parameter in ADDRESS_ONLY:
                count = math.floor(
                    count * settings.AXES_FAILURE_LIMIT / settings.STEPWISE_LOGIN_IP_FAILURE_LIMIT
                )
            counts.append(count)
        return max(counts, default=0)


def locked_out(request: Any, original_response: Any = None, credentials: Any = None) -> Any:
    """django-axes' answer to a throttled login: 429 with a page that says how long to wait."""
    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    context = {
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "address_limit": settings.STEPWISE_LOGIN_IP_FAILURE_LIMIT,
        "minutes": f"{minutes:g}",
    }
    return render(request, "registration/locked_out.html", context, status=429)


# API use -----------------------------------------------------------------------------------------


class _RateFromSettings:
    """The rate read from STEPWISE_API_RATES when a request comes (DRF reads its own at import,
    so a test or an operator's override would not reach it), and the client told apart by
    `client_ip`: DRF's own reads X-Forwarded-For, which any client may write."""

    scope: str | None

    def get_rate(self) -> str | None:
        return settings.STEPWISE_API_RATES.get(self.scope or "")

    def get_ident(self, request: Any) -> str:
        return client_ip(request) or "unknown"


class AnonThrottle(_RateFromSettings, AnonRateThrottle):
    pass


class UserThrottle(_RateFromSettings, UserRateThrottle):
    pass
