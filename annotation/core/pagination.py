"""The API's pagination (settings.REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]), and the keyset
pagination of the lists that grow with a project (grades, traces)."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    """`?page=N`, and `?page_size=N` for up to MAX_PAGE_SIZE results a page (50 by default)."""

    page_size_query_param = "page_size"
    max_page_size = 1000


class KeysetPagination(CursorPagination):
    """Pages by id: a page reads the next `page_size` ids after the cursor from the index, and
    no page counts the list (a count reads the whole project: a million rows at PRM800K's
    size). Follow `next` (and `previous`); `?page_size=N` as above."""

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {"cursor": ["not a cursor of this list: follow a page's next or previous link"]}
            ) from None
