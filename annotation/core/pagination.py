"""The API's pagination (settings.REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"])."""

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """`?page=N`, and `?page_size=N` for up to MAX_PAGE_SIZE results a page (50 by default)."""

    page_size_query_param = "page_size"
    max_page_size = 1000
