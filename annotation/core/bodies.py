"""Request bodies checked before any service sees them: JSON decoded by `strict_json` within
the size Django allows (DATA_UPLOAD_MAX_MEMORY_SIZE), and text without NUL characters, lone
surrogates or more than its limit of characters. A BodyError names the field; JSON views
answer it with 400, form views with a message.

Plain functions rather than serializers: the autosave path runs them several times a minute
per annotator (bench/grade_latency.py). Forms with a JSON field use StrictJSONFormField.
"""

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.forms.fields import InvalidJSONInput, JSONString
from django.http import HttpRequest

from annotation.core import strict_json
from annotation.core.columns import TEXT_MAX_CHARS
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


class StrictJSONFormField(forms.JSONField):
    """A form's JSON text decoded by `strict_json`: what it refuses is a form error saying
    where (Django's own field lets NaN through and fails with a 500 on a 5,000-digit integer
    or deep nesting). Its text is at most `max_length` characters (TEXT_MAX_CHARS unless
    given), counted before decoding: Django's own check would count a decoded object's keys."""

    def __init__(self, *, max_length: int = TEXT_MAX_CHARS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = self.max_chars = max_length  # max_length: what forms read

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        if len(value) > self.max_chars:
            raise ValidationError(
                f"Write at most {self.max_chars:,} characters (this is {len(value):,}).",
                code="max_length",
            )
        try:
            converted = _decoded_text(value)
        except JSONInputError as error:
            raise ValidationError(f"Enter valid JSON: {error}", code="invalid") from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or not isinstance(data, str):
            return super().bound_data(data, initial)
        try:
            return _decoded_text(data)
        except JSONInputError:
            return InvalidJSONInput(data)


def _decoded_text(text: str) -> Any:
    return strict_json.decode(text.encode("utf-8", "surrogatepass"))
