"""The REST API's JSON parser: every body through `strict_json` (no NaN, Infinity, integers
beyond 64 bits, NUL, lone surrogates, repeated keys or deep nesting), within
DATA_UPLOAD_MAX_MEMORY_SIZE, which DRF does not apply itself. A bad body is a 400 naming the
field."""

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, JSONParser, MultiPartParser

from annotation.core import strict_json
from annotation.core.bodies import BODY
from annotation.core.strict_json import JSONInputError
from annotation.core.uploads import NamesCheckedParser


class StrictJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        data = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise ParseError(f"{BODY}: is larger than {limit:,} bytes")
        try:
            return strict_json.decode(data)
        except JSONInputError as error:
            raise ParseError(f"{error.path or BODY}: {error.message}") from None


class StrictMultiPartParser(MultiPartParser):
    """DRF's multipart parser, refusing a file name with a NUL, control or invisible character
    (Django's parser would drop the character and store "ab.jsonl" for "a\\x00b.jsonl")."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        context = parser_context or {}
        request = context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            parser = NamesCheckedParser(meta, stream, request.upload_handlers, encoding)
            data, files = parser.parse()
        except MultiPartParserError as error:
            raise ParseError(f"Multipart form parse error - {error}") from None
        if parser.refused:
            raise ParseError(f"file: {parser.refused[0]}")
        return DataAndFiles(data, files)
