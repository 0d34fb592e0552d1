from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.core.tokens import (
    TokenError,
    parse_days,
    token_create,
    token_revoke,
    tokens_of,
)


@login_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; POST makes one and shows its key once."""
    context: dict[str, object] = {"days": settings.STEPWISE_TOKEN_DAYS}
    status = 200
    if request.method == "POST":
        try:
            token, key = token_create(
                user=request.user,
                name=request.POST.get("name", "").strip(),
                days=parse_days(request.POST.get("days")),
            )
        except TokenError as error:
            context["error"] = str(error)
            status = 400
        else:
            context["new_token"], context["new_key"] = token, key
    context["tokens"] = tokens_of(request.user)
    return render(request, "core/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke_page(request: HttpRequest, token_id: int) -> HttpResponse:
    if not token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token")
    messages.success(request, "The token is revoked.")
    return redirect("account-tokens")
