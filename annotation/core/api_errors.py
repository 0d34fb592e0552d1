"""The REST API's one error path: an error a service raises for bad input is a 400 naming the
field, whichever view it comes through (STYLE: "One error path").

DRF answers its own exceptions and Http404/PermissionDenied; a Django ValidationError (which
services and typed parameters raise, ParamsError included), a BodyError or a UserError (a
request the user can fix, with no field: `{"non_field_errors": [message]}`) would otherwise
be a 500 wherever a view forgot to catch it. A limit reached (a quota on jobs) is a 429 naming
it, with Retry-After when it is known."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotation.core.bodies import BodyError
from annotation.core.errors import UserError
from annotation.core.limits import LimitReached, limit_response
from annotation.core.uploads import UploadTooLarge


def as_api_error(error: DjangoValidationError) -> ValidationError:
    if hasattr(error, "error_dict"):
        return ValidationError(error.message_dict)
    return ValidationError({"non_field_errors": error.messages})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, LimitReached):
        body = {"detail": exc.message, "limit": exc.setting}
        response = Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS)
        limit_response(exc, response)
        return response
    if isinstance(exc, DjangoValidationError):
        exc = as_api_error(exc)
    elif isinstance(exc, UploadTooLarge | BodyError):
        exc = ValidationError({exc.field: [exc.message]})
    elif isinstance(exc, UserError):
        exc = ValidationError({"non_field_errors": [str(exc)]})
    return drf_exception_handler(exc, context)
