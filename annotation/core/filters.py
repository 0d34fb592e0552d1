"""The API's filter backend (settings.REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"])."""

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend


class FilterBackend(DjangoFilterBackend):
    """django-filter without its form in the browsable API: that form lists every object a
    model-choice filter could name (other projects' problems, step texts, jobs), whoever asks.
    The filters themselves work as before."""

    def to_html(self, request: Any, queryset: Any, view: Any) -> None:
        return None
