"""A request refused because a limit the operator set is reached (a quota on jobs, ...): the
answer is 429, naming the limit and, where known, when it frees (`Retry-After`).

The REST API answers it through its exception handler (annotation/core/api_errors.py); pages
through `LimitMiddleware` below, with a page that says the same."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render


class LimitReached(Exception):
    def __init__(self, message: str, *, setting: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.setting = setting  # the operator's setting that holds the limit
        self.retry_after = retry_after  # seconds until it frees, if known


def limit_response(error: LimitReached, response: HttpResponse) -> HttpResponse:
    if error.retry_after is not None:
        response["Retry-After"] = str(max(error.retry_after, 1))
    return response


class LimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if not isinstance(exception, LimitReached):
            return None
        page = render(request, "limit_reached.html", {"error": exception}, status=429)
        return limit_response(exception, page)
