"""form_submitted: the start and edit pages' one shape (valid form, service, its refusal on
the form)."""

from django import forms
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from annotation.core.form_errors import form_submitted


class NameForm(forms.Form):
    name = forms.CharField(max_length=5)


def test_a_get_saves_nothing() -> None:
    # given
    calls: list[str] = []
    # when
    result = form_submitted(RequestFactory().get("/"), NameForm(), lambda: calls.append("x"))
    # then
    assert (result, calls) == (None, [])


def test_an_invalid_form_saves_nothing() -> None:
    # given
    form = NameForm({"name": "far too long"})
    calls: list[str] = []
    # when
    result = form_submitted(RequestFactory().post("/"), form, lambda: calls.append("x"))
    # then
    assert (result, calls) == (None, [])
    assert "name" in form.errors


def test_a_valid_form_returns_what_the_service_made() -> None:
    form = NameForm({"name": "ok"})
    assert (
        form_submitted(RequestFactory().post("/"), form, lambda: form.cleaned_data["name"]) == "ok"
    )


def test_a_refusal_lands_on_its_field_or_on_top() -> None:
    # given
    def refuse() -> str:
        raise ValidationError({"name": "taken", "other": "not a field here"})

    form = NameForm({"name": "ok"})
    # when
    result = form_submitted(RequestFactory().post("/"), form, refuse)
    # then
    assert result is None
    assert form.errors == {"name": ["taken"], "__all__": ["not a field here"]}
