"""Personal API tokens: made on the tokens page, by the API from a logged-in session, or by
`manage.py create_token`; refused once expired, after a password change, or once revoked
(one by one, or all of a user's on logout)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from annotation.core.models import ApiToken

# A token's last use is written at most this often (not on every request).
LAST_USED_PRECISION = timedelta(minutes=5)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TokenError(ValueError):
    """A token cannot be made as asked (the message names the field)."""


def parse_days(raw: str | None) -> int | None:
    """A form's days field: empty for the longest lifetime."""
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise TokenError("days: give a whole number of days") from None


def token_create(*, user: Any, name: str = "", days: int | None = None) -> tuple[ApiToken, str]:
    """A new token and its key; the key is shown once and never stored."""
    longest = settings.STEPWISE_TOKEN_DAYS
    days = longest if days is None else days
    if not 1 <= days <= longest:
        raise TokenError(f"days: give a number of days from 1 to {longest}")
    if len(name) > 100:
        raise TokenError("name: at most 100 characters")
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        digest=_digest(key),
        prefix=key[:8],
        auth_hash=user.get_session_auth_hash(),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return token, key


def tokens_of(user: Any) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user))


def token_revoke(*, user: Any, token_id: int) -> bool:
    """Deletes one of the user's tokens; False when they have no such token."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def tokens_revoke_all(*, user: Any) -> int:
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


# A signal, not a view: every logout (the site's, the API's, the admin's) calls auth.logout.
@receiver(user_logged_out, dispatch_uid="stepwise-revoke-tokens-on-logout")
def _revoke_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        tokens_revoke_all(user=user)


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token KEY` against ApiToken."""

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = ApiToken.objects.select_related("user").filter(digest=_digest(key)).first()
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        user = token.user
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        now = timezone.now()
        if token.expires_at <= now:
            raise AuthenticationFailed("Token expired: make a new one at /account/tokens/.")
        if not constant_time_compare(token.auth_hash, user.get_session_auth_hash()):
            token.delete()
            raise AuthenticationFailed("Token revoked: the password was changed.")
        if token.last_used_at is None or token.last_used_at < now - LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token


def token_or_session(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A JSON view of our own (not DRF's) that takes `Authorization: Token KEY` as the DRF
    API does, or else the session with its CSRF check. A browser never sends the header by
    itself, so a request that carries a token needs no CSRF token; a bad token is a 401."""
    protected = csrf_protect(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not get_authorization_header(request).lower().startswith(b"token "):  # type: ignore[arg-type]
            return protected(request, *args, **kwargs)
        try:
            found = ApiTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
        except AuthenticationFailed as error:  # plain: the editors' views are not DRF views
            return JsonResponse({"error": str(error.detail)}, status=401)
        if found is not None:
            request.user = found[0]
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)
