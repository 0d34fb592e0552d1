"""Accounts: login throttling (django-axes) on every login form, and API tokens that expire,
die with a logout or a password change, and can be listed and revoked."""

import io
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from annotation.core.models import ApiToken
from annotation.core.tokens import token_create
from tests.factories import UserFactory

PASSWORD = "pw-for-tests"  # UserFactory's
LOGIN_URLS = ["/login/", "/api/auth/login/", "/admin/login/"]
LIMIT = 20  # STEPWISE_LOGIN_FAILURE_LIMIT's default


def log_in(client: Client, url: str, password: str, **headers: str) -> int:
    response = client.post(url, {"username": "victim", "password": password}, **headers)
    return response.status_code


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_the_default_limit_is_20_failures_in_15_minutes():
    window = (settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)
    assert window == (LIMIT, timedelta(minutes=15))


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_the_21st_login_within_the_window_is_throttled(db, client: Client, url):
    # given
    UserFactory(username="victim", is_staff=True)
    # when: 20 wrong passwords, then the right one
    wrong = [log_in(client, url, f"wrong-{i}") for i in range(LIMIT)]
    right = log_in(client, url, PASSWORD)
    # then: the 20th failure locks the account, and the right password no longer gets in
    assert wrong == [200] * (LIMIT - 1) + [429]
    assert right == 429
    assert not logged_in(client)


def test_failures_older_than_the_window_do_not_count(db, client: Client):
    # given: 19 failures, the last one 16 minutes ago
    UserFactory(username="victim")
    for i in range(LIMIT - 1):
        log_in(client, "/login/", f"wrong-{i}")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    # when
    wrong = log_in(client, "/login/", "wrong-again")
    right = log_in(client, "/login/", PASSWORD)
    # then
    assert (wrong, right, logged_in(client)) == (200, 302, True)


def test_a_rotating_x_forwarded_for_neither_resets_the_count_nor_is_recorded(db, client: Client):
    # given
    UserFactory(username="victim")
    # when
    wrong = [
        log_in(client, "/login/", f"wrong-{i}", HTTP_X_FORWARDED_FOR=f"10.0.{i}.1")
        for i in range(LIMIT)
    ]
    right = log_in(client, "/login/", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9")
    # then
    assert (wrong[-1], right, logged_in(client)) == (429, 429, False)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_the_configured_proxy_header_gives_the_address(db, client: Client, settings):
    # given: a proxy that appends the address it saw to X-Forwarded-For
    settings.STEPWISE_PROXY_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    UserFactory(username="victim")
    # when: the client claims an address of its own before the proxy's
    log_in(client, "/login/", "wrong", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    log_in(client, "/login/", "wrong", HTTP_X_FORWARDED_FOR="not an address")
    # then: the proxy's entry (the last) is used; a broken header falls back to the peer
    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == [
        "127.0.0.1",
        "203.0.113.7",
    ]


def test_rotating_the_configured_proxy_header_does_not_reset_the_count(
    db, client: Client, settings
):
    # given
    settings.STEPWISE_PROXY_IP_HEADER = "HTTP_X_REAL_IP"
    UserFactory(username="victim")
    # when: every attempt from another address
    for i in range(LIMIT):
        log_in(client, "/login/", f"wrong-{i}", HTTP_X_REAL_IP=f"198.51.100.{i}")
    right = log_in(client, "/login/", PASSWORD, HTTP_X_REAL_IP="198.51.100.200")
    # then: the count is per username too
    assert (right, logged_in(client)) == (429, False)


# Tokens ------------------------------------------------------------------------------------


def api_status(key: str) -> tuple[int, str]:
    response = Client().get("/api/projects/", HTTP_AUTHORIZATION=f"Token {key}")
    return response.status_code, response.json().get("detail", "")


OK = (200, "")


def test_a_token_stops_working_after_logout(db, client: Client):
    # given
    user = UserFactory()
    _, key = token_create(user=user)
    assert api_status(key) == OK
    client.force_login(user)
    # when
    client.post("/logout/")
    # then
    assert api_status(key) == (403, "Invalid token.")
    assert ApiToken.objects.count() == 0


def test_a_token_stops_working_after_a_password_change(db):
    # given
    user = UserFactory()
    _, key = token_create(user=user)
    # when
    user.set_password("a new password")
    user.save()
    # then
    assert api_status(key) == (403, "Token revoked: the password was changed.")


def test_an_expired_token_is_refused(db):
    # given
    user = UserFactory()
    token, key = token_create(user=user)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # then
    assert api_status(key) == (403, "Token expired: make a new one at /account/tokens/.")


def test_tokens_expire_after_the_configured_days(db):
    token, _ = token_create(user=UserFactory())
    assert token.expires_at - token.created_at == timedelta(days=30)


def test_the_tokens_page_lists_creates_and_revokes(db, client: Client):
    # given
    user = UserFactory()
    old, old_key = token_create(user=user, name="laptop")
    theirs, _ = token_create(user=UserFactory(), name="someone else's")
    client.force_login(user)
    # when
    listed = client.get("/account/tokens/").content.decode()
    created = client.post("/account/tokens/", {"name": "ci", "days": "7"}).content.decode()
    revoked = client.post(f"/account/tokens/{old.pk}/revoke/")
    foreign = client.post(f"/account/tokens/{theirs.pk}/revoke/")
    # then
    assert "laptop" in listed and "someone else's" not in listed
    new = ApiToken.objects.get(user=user, name="ci")
    assert new.expires_at - new.created_at == timedelta(days=7)
    new_key = created.split('data-token-key="')[1].split('"')[0]
    assert api_status(new_key) == OK
    assert (revoked.status_code, foreign.status_code) == (302, 404)
    assert api_status(old_key) == (403, "Invalid token.")
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_the_tokens_api_lists_creates_and_revokes(db, client: Client):
    # given
    user = UserFactory()
    old, old_key = token_create(user=user, name="laptop")
    theirs, _ = token_create(user=UserFactory(), name="someone else's")
    client.force_login(user)
    # when
    listed = client.get("/api/tokens/").json()
    created = client.post("/api/tokens/", {"name": "ci"}, content_type="application/json")
    revoked = client.delete(f"/api/tokens/{old.pk}/")
    foreign = client.delete(f"/api/tokens/{theirs.pk}/")
    # then
    assert [(t["name"], t["prefix"]) for t in listed["results"]] == [("laptop", old_key[:8])]
    assert created.status_code == 201
    assert api_status(created.json()["key"]) == OK
    assert (revoked.status_code, foreign.status_code) == (204, 404)
    assert api_status(old_key) == (403, "Invalid token.")


def test_a_token_cannot_make_new_tokens(db):
    # given
    _, key = token_create(user=UserFactory())
    # when
    response = Client().post("/api/tokens/", {"name": "more"}, HTTP_AUTHORIZATION=f"Token {key}")
    # then
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize("command", ["create_token", "drf_create_token"])
def test_the_command_line_makes_a_token(db, command):
    # given
    UserFactory(username="alice")
    out = io.StringIO()
    # when
    call_command(command, "alice", stdout=out)
    # then
    key = out.getvalue().split()[-1]
    assert api_status(key) == OK
