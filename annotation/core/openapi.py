"""The OpenAPI schema as a page a browser shows (it downloads `application/vnd.oai.openapi`)."""

from collections.abc import Mapping
from typing import Any

from django.utils.html import escape
from drf_spectacular.renderers import OpenApiYamlRenderer
from rest_framework.renderers import BaseRenderer


class SchemaPageRenderer(BaseRenderer):
    """For `Accept: text/html` (a browser): the YAML schema, escaped, in a plain page. Clients
    that ask for YAML or JSON (or anything, `*/*`) get those as before."""

    media_type = "text/html"
    format = "html"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        text = OpenApiYamlRenderer().render(data, renderer_context=renderer_context)
        body = escape(text.decode() if isinstance(text, bytes) else text)
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>Stepwise API schema</title></head><body>"
            '<p><a href="?format=json">JSON</a> · <a href="?format=yaml">YAML</a> · '
            '<a href="/api/docs/">browsable docs</a></p>'
            f"<pre>{body}</pre></body></html>"
        ).encode()
