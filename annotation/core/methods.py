"""Every view answers only its own methods; any other is a 405 before the view runs.

DRF's views and Django's class-based views already refuse a method they have no handler for.
A function view declares its methods with Django's `require_http_methods` (or require_POST,
...); one that declares none answers GET, HEAD and POST, as a page with a form does. So TRACE,
PUT or DELETE sent to a page never reach it (`TRACE /` used to render the home page).
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed

PAGE_METHODS = frozenset({"GET", "HEAD", "POST"})


def declared_methods(view: Callable[..., Any]) -> frozenset[str]:
    """The methods a function view declares with require_http_methods, else PAGE_METHODS.

    Django's decorator keeps its list in the closure of the function it returns, under the
    name `request_method_list`; the decorators above it keep the chain in `__wrapped__`."""
    func: Any = view
    while func is not None:
        code = getattr(func, "__code__", None)
        if code is not None and "request_method_list" in code.co_freevars:
            cell = func.__closure__[code.co_freevars.index("request_method_list")]
            return frozenset(cell.cell_contents)
        func = getattr(func, "__wrapped__", None)
    return PAGE_METHODS


class MethodsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if hasattr(view, "cls") or hasattr(view, "view_class"):
            return None  # DRF's views and class-based views refuse what they do not handle
        allowed = declared_methods(view)
        if request.method not in allowed:
            return HttpResponseNotAllowed(sorted(allowed))
        return None
