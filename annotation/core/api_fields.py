"""Serializer fields for the REST API that refuse what DRF's own let through."""

from typing import Any

from rest_framework import serializers

from annotation.core import strict_json
from annotation.core.strict_json import JSONInputError

_JSON_TYPES = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
}


class JSONObjectField(serializers.JSONField):
    """A JSON object ({...}) and nothing else, sent in a JSON body or as a form field's text
    (form-encoded or multipart: `options=null` used to reach the database as NULL, and
    `default_sampling=false` was stored as false). A form field's text is decoded by
    `strict_json`, as a body is."""

    default_error_messages = {
        "not_an_object": "must be a JSON object ({{...}}), not {kind}",
        "invalid": "is not valid JSON: {reason}",
    }

    def to_internal_value(self, data: Any) -> Any:
        if getattr(data, "is_json_string", False):
            try:
                data = strict_json.decode(str(data).encode("utf-8", "surrogatepass"))
            except JSONInputError as error:
                self.fail("invalid", reason=str(error))
        else:
            data = super().to_internal_value(data)
        if not isinstance(data, dict):
            self.fail("not_an_object", kind=_JSON_TYPES.get(type(data), type(data).__name__))
        return data
