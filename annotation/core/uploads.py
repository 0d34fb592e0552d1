"""Uploads within STEPWISE_MAX_UPLOAD_BYTES, checked while the request is read.

`LimitedUploadHandler` comes first in FILE_UPLOAD_HANDLERS, before Django's memory and
temporary-file handlers: a request whose Content-Length is beyond the limit is refused before
any of it is read, and a file that grows beyond it while being read (a body sent in chunks) is
refused before the chunk that passes the limit reaches the handler that writes to disk. A 200 MB
import upload used to be stored before the import job refused it.

`NamesCheckedParser` leaves out a file whose name holds a NUL, control or invisible character
(annotation/core/text_policy.py) and keeps the reason; Django's own parser would drop the
character and keep "ab.jsonl" for "a\\x00b.jsonl". The REST API's multipart parser refuses with
it (annotation/core/parsers.py); pages get it from `PageUploadsMiddleware`, which reads a page's
multipart body before CSRF does: a body beyond the limit is a 400 page naming the limit, and a
refused name is in `request.upload_refusals` for the page's form to show."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponseBase
from django.http.multipartparser import MultiPartParser
from django.shortcuts import render

from annotation.core.bodies import BODY
from annotation.core.text_policy import filename_problem


class UploadTooLarge(RequestDataTooBig):
    """Django answers it 400 (a SuspiciousOperation); the REST API with the field named."""

    def __init__(self, field: str, size: int | None) -> None:
        limit = settings.STEPWISE_MAX_UPLOAD_BYTES
        what = f"is {size:,} bytes" if size is not None else "is larger than the limit"
        super().__init__(
            f"{field}: {what}, more than STEPWISE_MAX_UPLOAD_BYTES = {limit:,} bytes allows"
        )
        self.field = field
        self.message = str(self).partition(": ")[2]


class LimitedUploadHandler(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        if content_length and content_length > settings.STEPWISE_MAX_UPLOAD_BYTES:
            raise UploadTooLarge(BODY, content_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.STEPWISE_MAX_UPLOAD_BYTES:
            raise UploadTooLarge(self.field_name or BODY, None)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file


class NamesCheckedParser(MultiPartParser):
    """Django's multipart parser; a file with a refused name is left out, its reason kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused: list[str] = []

    def sanitize_file_name(self, file_name: str) -> str | None:
        if problem := filename_problem(file_name):
            self.refused.append(f"the file name {problem}")
            return None
        return super().sanitize_file_name(file_name)


class PageUploadsMiddleware:
    """Reads a page's multipart body with `NamesCheckedParser` (the API's parsers read their
    own). Runs before any view hook, so before CSRF's check reads the form."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if (
            request.method == "POST"
            and request.content_type == "multipart/form-data"
            and not request.path.startswith("/api/")
        ):
            try:
                parser = NamesCheckedParser(
                    request.META, request, request.upload_handlers, request.encoding
                )
                request._post, request._files = parser.parse()  # type: ignore[attr-defined]
            except UploadTooLarge as error:
                context = {"message": f"The file {error.message}.", "back": request.path}
                return render(request, "upload_refused.html", context, status=400)
            request.upload_refusals = parser.refused  # type: ignore[attr-defined]
        return self.get_response(request)
