"""A database lock waited for in vain (SQLite under `make run`) answers 503 with a message,
through the whole middleware stack, never 500."""

import pytest
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.busy import BUSY_MESSAGE


def locked_page(request: HttpRequest) -> HttpResponse:
    raise OperationalError("database is locked")


@api_view(["POST"])
def locked_api(request: Request) -> Response:
    raise OperationalError("database is locked")


def other_error(request: HttpRequest) -> HttpResponse:
    raise OperationalError("no such table: nowhere")


urlpatterns = [
    path("page/", locked_page),
    path("api/locked/", locked_api),
    path("other/", other_error),
]

pytestmark = pytest.mark.urls(__name__)


def test_a_page_that_waited_for_the_lock_in_vain_is_a_503_page(client):
    response = client.get("/page/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert BUSY_MESSAGE in response.content.decode()


def test_an_api_call_that_waited_for_the_lock_in_vain_is_a_503_in_json(admin_client):
    response = admin_client.post("/api/locked/", {}, content_type="application/json")
    assert response.status_code == 503
    assert response.json() == {"detail": BUSY_MESSAGE, "code": "busy"}


def test_other_database_errors_are_not_called_busy(client):
    client.raise_request_exception = True
    with pytest.raises(OperationalError, match="no such table"):
        client.get("/other/")
