"""The REST router: an object's URL takes a number as its id.

Anything else (`/api/jobs/abc/`, `/api/llm/models/null/`) is a 404 from the URL resolver,
as `<int:...>` gives the pages, instead of reaching a view that converts it with int()."""

from typing import Any

from rest_framework.routers import DefaultRouter

ID = "[0-9]+"


class IdRouter(DefaultRouter):
    def get_lookup_regex(self, viewset: Any, lookup_prefix: str = "") -> str:
        lookup_field = getattr(viewset, "lookup_field", "pk")
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or lookup_field
        return f"(?P<{lookup_prefix}{kwarg}>{getattr(viewset, 'lookup_value_regex', ID)})"
