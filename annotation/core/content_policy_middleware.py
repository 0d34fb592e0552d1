"""django-csp's middleware with one exception for pages made by other projects."""

from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

# Django admin and DRF's browsable API (and its login page) lay out a few elements with style=""
# attributes in their own templates. They show user data only through Django's autoescaping
# (no rendered markdown or math), so allowing style attributes there costs little; scripts stay
# 'self' only, and our own pages allow no inline style at all.
THIRD_PARTY_PAGES = ("/admin/", "/api/")


class ContentPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if request.path_info.startswith(THIRD_PARTY_PAGES):
            extra: dict[str, Any] = {"style-src-attr": ["'unsafe-inline'"]}
            parts.update = {**(parts.update or {}), **extra}
        return parts
