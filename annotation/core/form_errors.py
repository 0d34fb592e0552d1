"""The one way a refusal (a Django ValidationError, ParamsError included, raised by a service
or a parameters class) reaches a page's form: each message under the field it names, or at
the top of the form when the form has no such field. The REST API's counterpart is
annotation/core/api_errors.py. `form_submitted` is the start and edit pages' one shape around
it: a valid form, the service, its refusal on the form, or else a redirect."""

from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpRequest

T = TypeVar("T")


def add_form_errors(form: BaseForm, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, texts in error.message_dict.items():
        form.add_error(field if field in form.fields else None, texts)


def form_submitted(request: HttpRequest, form: BaseForm, save: Callable[[], T]) -> T | None:
    """A page's form, submitted: on a POST whose form is valid, what `save()` (the service
    call, reading `form.cleaned_data`) returns, for the view to redirect to. None for a GET, an
    invalid form, or a ValidationError that `save` raised, whose messages are now on the form
    (add_form_errors): the view shows the form again."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save()
    except ValidationError as error:
        add_form_errors(form, error)
        return None
