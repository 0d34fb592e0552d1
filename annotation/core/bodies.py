"""Request bodies checked before any service sees them: JSON decoded by `strict_json` within
the size Django allows (DATA_UPLOAD_MAX_MEMORY_SIZE), and text without NUL characters, lone
surrogates or more than its limit of characters. A BodyError names the field; JSON views
answer it with 400, form views with a message.

Plain functions rather than serializers: the autosave path runs them several times a minute
per annotator (bench/grade_latency.py).
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from annotation.core import strict_json
from annotation.core.strict_json import JSONInputError

BODY = "(body)"  # the field named when the whole body is wrong


class BodyError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def json_object(request: HttpRequest, *, max_depth: int = strict_json.MAX_DEPTH) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BodyError(
            BODY, f"is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes"
        ) from None
    try:
        value = strict_json.decode(raw or b"null", max_depth=max_depth)
    except JSONInputError as error:
        raise BodyError(error.path or BODY, error.message) from None
    if not isinstance(value, dict):
        raise BodyError(BODY, "must be a JSON object")
    return value


def text(value: Any, field: str, *, max_chars: int) -> str:
    """A form field or JSON string the database can store, of at most `max_chars`."""
    if not isinstance(value, str):
        raise BodyError(field, "expected text")
    if len(value) > max_chars:
        raise BodyError(field, f"is longer than {max_chars:,} characters")
    try:
        strict_json.check_string(value, field)
    except JSONInputError as error:
        raise BodyError(field, error.message) from None
    return value


def check_texts(value: Any, path: str, *, max_chars: int) -> None:
    """Every string in a decoded JSON value is at most `max_chars` long."""
    if isinstance(value, str):
        if len(value) > max_chars:
            raise BodyError(path, f"is longer than {max_chars:,} characters")
    elif isinstance(value, dict):
        for key, child in value.items():
            check_texts(child, f"{path}.{key}" if path else key, max_chars=max_chars)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            check_texts(child, f"{path}[{index}]", max_chars=max_chars)
