"""Form and serializer fields read off a parameters dataclass, so that each parameter's type,
default, choices and help are written once, on the dataclass (`described(...)` metadata).

The fields only carry values; the dataclass checks them when it is built from the form's or
the body's values (`form_params` gives the form's as JSON), and its errors (ParamsError, a
ValidationError naming the field) become the form's or the body's field errors."""

import types
from collections.abc import Collection, Iterable
from dataclasses import MISSING, Field, fields
from typing import Any, Literal, Union, cast, get_args, get_origin, get_type_hints

from django import forms
from rest_framework import serializers

from annotation.core.columns import TEXT_MAX_CHARS

HELP = "help"
CHOICES = "choices"
MAX_LENGTH = "max_length"  # of a text (every text has a cap: TEXT_MAX_CHARS unless given)
STRIP = "strip"  # whether a text's outer whitespace is dropped (not a delimiter's "\n\n")
ID_OF = "owner"  # the kind of row an id names (annotation.jobs.params.owns)


def described(
    help_text: str = "",
    choices: Iterable[str] = (),
    max_length: int = TEXT_MAX_CHARS,
    strip: bool = True,
) -> dict[str, Any]:
    """Field metadata: what the parameter means, the values it takes when its type does not
    say them (a str or a tuple of str), the longest text it takes, and whether the text's
    outer whitespace is dropped."""
    return {HELP: help_text, CHOICES: tuple(choices), MAX_LENGTH: max_length, STRIP: strip}


class _Parameter:
    """One dataclass field: its type without None, whether None is allowed, its default."""

    def __init__(self, spec: Field[Any], hint: Any) -> None:
        self.name = spec.name
        self.spec = spec
        args = get_args(hint)
        self.nullable = get_origin(hint) in (Union, types.UnionType) and type(None) in args
        self.hint = next(arg for arg in args if arg is not type(None)) if self.nullable else hint
        self.has_default = spec.default is not MISSING or spec.default_factory is not MISSING
        default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
        self.default = None if default is MISSING else default
        self.help = spec.metadata.get(HELP, "")
        self.origin = get_origin(self.hint)
        self.item = get_args(self.hint)[0] if self.origin in (list, tuple) else self.hint
        literal = get_args(self.item) if get_origin(self.item) is Literal else ()
        self.choices: tuple[Any, ...] = literal or spec.metadata.get(CHOICES, ())
        self.max_length: int = spec.metadata.get(MAX_LENGTH, TEXT_MAX_CHARS)
        self.strip: bool = spec.metadata.get(STRIP, True)

    @property
    def many(self) -> bool:
        return self.origin in (list, tuple)


def _parameters(cls: type, exclude: Collection[str]) -> list[_Parameter]:
    hints = get_type_hints(cls)
    return [_Parameter(spec, hints[spec.name]) for spec in fields(cls) if spec.name not in exclude]


def _scalar_serializer_field(parameter: _Parameter, **options: Any) -> serializers.Field:
    if parameter.choices:
        return serializers.ChoiceField(choices=list(parameter.choices), **options)
    item = parameter.item
    if item is bool:
        return serializers.BooleanField(**options)
    if item is int:
        return serializers.IntegerField(**options)
    if item is float:
        return serializers.FloatField(**options)
    if item is str:
        return serializers.CharField(
            max_length=parameter.max_length, trim_whitespace=parameter.strip, **options
        )
    return serializers.JSONField(**options)


def serializer_fields(cls: type, exclude: Collection[str] = ()) -> dict[str, serializers.Field]:
    """A serializer field per parameter of the dataclass `cls` (but `exclude`)."""
    made: dict[str, serializers.Field] = {}
    for parameter in _parameters(cls, exclude):
        options: dict[str, Any] = {"help_text": parameter.help or None}
        if parameter.has_default:
            default = parameter.default
            if isinstance(default, tuple | list):  # JSON has lists (and a new one each time)
                default = list(default).copy
            elif isinstance(default, dict):
                default = dict(default).copy
            options.update(required=False, default=default)
        if parameter.nullable:
            options["allow_null"] = True
        if parameter.many:
            child = _scalar_serializer_field(parameter)
            made[parameter.name] = serializers.ListField(child=child, **options)
        elif parameter.origin is dict:
            made[parameter.name] = serializers.DictField(**options)
        else:
            made[parameter.name] = _scalar_serializer_field(parameter, **options)
    return made


def params_serializer(
    name: str,
    cls: type,
    *,
    exclude: Collection[str] = (),
    doc: str = "",
    **before: serializers.Field,
) -> type[serializers.Serializer[None]]:
    """A serializer class of the fields `before`, then a field per parameter of `cls`."""
    attrs: dict[str, Any] = {"__doc__": doc, "__module__": cls.__module__, **before}
    attrs.update(serializer_fields(cls, exclude))
    made = type(name, (serializers.Serializer,), attrs)  # DRF's metaclass collects the fields
    return cast(type[serializers.Serializer[None]], made)


class IdListField(forms.CharField):
    """Ids separated by commas (of rows of kind `of`, e.g. job), as a tuple."""

    def __init__(self, *, of: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.of = of

    def prepare_value(self, value: Any) -> Any:
        """Ids as the field reads them ("3, 4"; nothing for none), not a tuple's repr."""
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> tuple[int, ...]:  # type: ignore[override]
        parts = [part.strip() for part in (super().to_python(value) or "").split(",")]
        if bad := [part for part in parts if part and not part.isdigit()]:
            raise forms.ValidationError(f"{bad[0]!r} is not a {self.of} id".replace("  ", " "))
        return tuple(int(part) for part in parts if part)


def form_fields(cls: type, exclude: Collection[str] = ()) -> dict[str, forms.Field]:
    """A form field per parameter of the dataclass `cls` (but `exclude`); an empty optional
    field is the parameter's default (see `form_params`)."""
    made: dict[str, forms.Field] = {}
    for parameter in _parameters(cls, exclude):
        common: dict[str, Any] = {"help_text": parameter.help, "initial": parameter.default}
        required = not parameter.has_default
        choices = [(choice, choice) for choice in parameter.choices]
        if parameter.many and choices:
            made[parameter.name] = forms.MultipleChoiceField(
                choices=choices, required=False, widget=forms.CheckboxSelectMultiple, **common
            )
        elif parameter.many and parameter.item is int:
            of = parameter.spec.metadata.get(ID_OF, "")
            made[parameter.name] = IdListField(
                of=of, required=False, max_length=parameter.max_length, **common
            )
        elif parameter.many or parameter.origin is dict:
            continue  # no form field: a form sets it itself, or leaves the default
        elif choices:
            if parameter.nullable:
                choices.insert(0, ("", "default"))
            made[parameter.name] = forms.ChoiceField(
                choices=choices, required=required and not parameter.nullable, **common
            )
        elif parameter.item is bool:
            made[parameter.name] = forms.BooleanField(required=False, **common)
        elif parameter.item is int:
            made[parameter.name] = forms.IntegerField(
                required=required and not parameter.nullable, **common
            )
        elif parameter.item is float:
            made[parameter.name] = forms.FloatField(required=required, **common)
        else:
            made[parameter.name] = forms.CharField(
                required=required and not parameter.nullable,
                max_length=parameter.max_length,
                strip=parameter.strip,
                **common,
            )
    return made


def params_form(cls: type, *, exclude: Collection[str] = ()) -> type[forms.Form]:
    """A form class with a field per parameter of `cls` (but `exclude`); subclass it to show
    a parameter otherwise (the new field keeps its place)."""
    attrs: dict[str, Any] = {"__module__": cls.__module__, **form_fields(cls, exclude)}
    made = type(f"{cls.__name__}Form", (forms.Form,), attrs)  # Django's metaclass, as above
    return cast(type[forms.Form], made)


def field_help(cls: type, name: str) -> str:
    """The help the dataclass `cls` gives its parameter `name`."""
    return next(spec.metadata.get(HELP, "") for spec in fields(cls) if spec.name == name)


def field_default(cls: type, name: str) -> Any:
    """The default the dataclass `cls` gives its parameter `name` (None if it has none)."""
    return next(p.default for p in _parameters(cls, ()) if p.name == name)


def form_params(cls: type, cleaned_data: dict[str, Any]) -> dict[str, Any]:
    """The form's values of the dataclass's parameters as JSON for `from_json`: an empty
    optional value is None when the parameter allows it, else left to the default."""
    params: dict[str, Any] = {}
    for parameter in _parameters(cls, ()):
        if parameter.name not in cleaned_data:
            continue
        value = cleaned_data[parameter.name]
        if parameter.many:
            value = list(value or ())
        if value in ("", None, []) and parameter.nullable:
            params[parameter.name] = None
        elif value in ("", None) and parameter.has_default:
            continue
        else:
            params[parameter.name] = value
    return params
