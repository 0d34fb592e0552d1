"""Uploads within STEPWISE_MAX_UPLOAD_BYTES, checked while the request is read.

`LimitedUploadHandler` comes first in FILE_UPLOAD_HANDLERS, before Django's memory and
temporary-file handlers: a request whose Content-Length is beyond the limit is refused before
any of it is read, and a file that grows beyond it while being read (a body sent in chunks) is
refused before the chunk that passes the limit reaches the handler that writes to disk. A 200 MB
import upload used to be stored before the import job refused it."""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler

from annotation.core.bodies import BODY


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
