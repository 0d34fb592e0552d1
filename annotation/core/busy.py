"""A database too busy to answer in time is a 503 with a message, never a 500.

On SQLite (`make run`'s embedded default) one writer at a time holds the file's write lock; a
request that waits for it longer than the busy timeout (annotation/settings.py) fails with
OperationalError "database is locked". The person can simply try again a moment later, so the
answer says so, with Retry-After, in JSON for the API and htmx and as a page otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

BUSY_MESSAGE = (
    "The database is busy with another change (an import, most likely) and could not take "
    "yours in time. Try again in a few seconds."
)
RETRY_AFTER_S = 5
# SQLite's words for a lock it waited for in vain (sqlite3.OperationalError's text).
LOCK_ERRORS = ("database is locked", "database table is locked", "database is busy")


def is_busy(error: BaseException) -> bool:
    return isinstance(error, OperationalError) and any(
        words in str(error).lower() for words in LOCK_ERRORS
    )


def busy_response(request: HttpRequest) -> HttpResponse:
    wants_json = (
        request.path_info.startswith("/api/")
        or request.headers.get("HX-Request") == "true"
        or "application/json" in request.headers.get("Accept", "")
    )
    response: HttpResponse
    if wants_json:  # plain, not DRF: a middleware answers before any view (or DRF) runs
        response = JsonResponse({"detail": BUSY_MESSAGE, "code": "busy"}, status=503)
    else:
        # A page of its own, not base.html: it reads nothing from the database.
        html = render_to_string("503.html", {"message": BUSY_MESSAGE})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class DatabaseBusyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_busy(exception):
            return None
        logger.info("busy database: %s %s answered 503", request.method, request.path_info)
        return busy_response(request)
