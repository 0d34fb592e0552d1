"""The one way a refusal (a Django ValidationError, ParamsError included, raised by a service
or a parameters class) reaches a page's form: each message under the field it names, or at
the top of the form when the form has no such field. The REST API's counterpart is
annotation/core/api_errors.py."""

from django.core.exceptions import ValidationError
from django.forms import BaseForm


def add_form_errors(form: BaseForm, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, texts in error.message_dict.items():
        form.add_error(field if field in form.fields else None, texts)
