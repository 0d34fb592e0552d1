"""Throttles per client as well as per account: a spray of failed logins over many usernames
from one client is stopped (it used to be counted per username only), and the REST API
limits requests per anonymous client and per user."""

from __future__ import annotations

from typing import Any

from django.test import Client
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from tests.factories import UserFactory

PASSWORD = "pw-for-tests"  # UserFactory's


def fail(client: Client, username: str, **headers: str) -> int:
    response = client.post("/login/", {"username": username, "password": "wrong"}, **headers)
    return response.status_code


def test_the_201st_failure_from_one_client_spread_over_200_usernames_is_throttled(
    db, client: Client, settings
):
    # given: an operator who allows 200 failures per address
    settings.STEPWISE_LOGIN_IP_FAILURE_LIMIT = 200
    # when: one failure for each of 200 usernames, then one more
    statuses = [fail(client, f"sprayed-{i}") for i in range(200)]
    last = fail(client, "sprayed-200")
    # then: the 200th reaches the address's limit; the 201st is refused too
    assert statuses == [200] * 199 + [429]
    assert last == 429


def test_by_default_an_address_is_stopped_after_40_failures_over_4_names(db, client: Client):
    statuses = [fail(client, f"name-{i % 4}") for i in range(40)]
    assert statuses == [200] * 39 + [429]


def test_a_throttled_address_stops_the_right_password_too_but_not_other_clients(
    db, client: Client, settings
):
    # given
    settings.STEPWISE_LOGIN_IP_FAILURE_LIMIT = 5
    UserFactory(username="alice")
    for i in range(5):
        fail(client, f"sprayed-{i}")
    # when
    same_client = client.post("/login/", {"username": "alice", "password": PASSWORD})
    other_client = Client(REMOTE_ADDR="192.0.2.9").post(
        "/login/", {"username": "alice", "password": PASSWORD}
    )
    # then
    assert (same_client.status_code, other_client.status_code) == (429, 302)


def test_a_rotating_x_forwarded_for_does_not_escape_the_address_count(db, client: Client, settings):
    settings.STEPWISE_LOGIN_IP_FAILURE_LIMIT = 5
    statuses = [fail(client, f"n-{i}", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}") for i in range(6)]
    assert statuses[-2:] == [429, 429]


# The REST API ----------------------------------------------------------------------------------


def test_a_user_beyond_the_api_rate_is_told_to_wait(db, settings):
    # given
    settings.STEPWISE_API_RATES = {"anon": "100/minute", "user": "5/minute"}
    client = APIClient()
    client.force_authenticate(UserFactory())
    # when
    statuses = [client.get("/api/projects/").status_code for _ in range(6)]
    throttled = client.get("/api/projects/")
    # then
    assert statuses == [200] * 5 + [429]
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    # and another user is not slowed
    other = APIClient()
    other.force_authenticate(UserFactory())
    assert other.get("/api/projects/").status_code == 200


class _Open(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Any) -> Response:
        return Response({})


def test_an_anonymous_client_beyond_the_api_rate_is_told_to_wait_whatever_it_claims(db, settings):
    # given
    settings.STEPWISE_API_RATES = {"anon": "3/minute", "user": "100/minute"}
    factory, view = APIRequestFactory(), _Open.as_view()
    # when: the client claims another address each time
    statuses = [
        view(factory.get("/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")).status_code for i in range(4)
    ]
    other = view(factory.get("/", REMOTE_ADDR="192.0.2.7")).status_code
    # then
    assert statuses == [200, 200, 200, 429]
    assert other == 200
