"""The export options are written once (ExportOptions): the API's body and the page's form
are read off its fields, and its refusals come back under the option's name on both."""

from dataclasses import fields

from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from annotation.core.form_errors import add_form_errors
from annotation.core.params_fields import HELP, IdListField
from annotation.datasets.api import ExportSerializer
from annotation.datasets.export.errors import ExportOptionError
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.options import (
    GRADE_CHOICES,
    SOFT_LABEL_FORMATS,
    TRACE_KINDS,
    ExportOptions,
)
from annotation.datasets.export_pages import ExportForm
from annotation.jobs.typed_json import WHOLE

OPTIONS = [spec.name for spec in fields(ExportOptions) if spec.name != "extra"]


def test_the_api_and_the_page_offer_every_option_with_its_help():
    api, page = ExportSerializer().fields, ExportForm().fields
    assert set(api) == {"project", *OPTIONS}
    assert set(page) == set(OPTIONS)
    for spec in fields(ExportOptions):
        if spec.metadata.get(HELP):
            assert api[spec.name].help_text == spec.metadata[HELP]
            assert page[spec.name].help_text == spec.metadata[HELP]


def test_an_option_error_is_a_field_error_and_a_whole_export_error_is_not():
    assert ExportOptionError("run: give the id").message_dict == {"run": ["give the id"]}
    assert str(ExportOptionError("run: give the id")) == "run: give the id"
    whole = ExportOptionError("the export has no rows: no trace matches origins tree")
    assert whole.field == WHOLE and isinstance(whole, ValueError | ValidationError)


def test_soft_labels_are_checked_against_the_formats_table():
    assert set(SOFT_LABEL_FORMATS) == {
        name for name, spec in EXPORT_FORMATS.items() if getattr(spec, "soft_labels", False)
    }
    form = ExportForm({"format": "openr", "soft_labels": "on", "jobs": "3, 4"})
    assert form.is_valid(), form.errors
    try:
        form.options()
    except ValidationError as error:
        add_form_errors(form, error)
    assert form.errors == {
        "soft_labels": ["openr has no soft labels; use " + " or ".join(SOFT_LABEL_FORMATS)]
    }


def test_a_bad_job_id_on_the_page_is_named():
    form = ExportForm({"format": "openr", "jobs": "3, x"})
    assert not form.is_valid()
    assert form.errors == {"jobs": ["'x' is not a job id"]}


@given(
    format=st.sampled_from(sorted(EXPORT_FORMATS)),
    grades=st.sampled_from([g for g in GRADE_CHOICES if g not in ("annotator", "run")]),
    kinds=st.lists(st.sampled_from(TRACE_KINDS), unique=True).map(tuple),
    jobs=st.lists(st.integers(1, 10**6), max_size=4).map(tuple),
    flags=st.fixed_dictionaries(
        {name: st.booleans() for name in ("dedupe", "one_per_problem", "keep_gold_items")}
    ),
    after_error=st.sampled_from([None, "drop", "keep"]),
    test_fraction=st.floats(0, 0.99),
)
def test_the_api_body_and_the_page_form_build_the_same_options(
    format, grades, kinds, jobs, flags, after_error, test_fraction
):
    options = ExportOptions(
        format=format,
        grades=grades,
        kinds=kinds,
        jobs=jobs,
        after_error=after_error,
        test_fraction=test_fraction,
        **flags,
    )
    body = ExportSerializer(data={"project": 1, **options.as_params()})
    assert body.is_valid(), body.errors
    data = dict(body.validated_data)
    data.pop("project")
    assert ExportOptions.from_params(data) == options
    page = {
        **{key: value for key, value in options.as_params().items() if value is not None},
        "kinds": list(kinds),
        "jobs": ", ".join(map(str, jobs)),
        "held_out": "",
        **{name: "on" for name, value in flags.items() if value},
    }
    for name, value in flags.items():
        if not value:
            page.pop(name)
    for name in (
        "include_unfaithful",
        "include_no_trial",
        "include_unverified",
        "exclude_unanswered",
        "soft_labels",
        "keep_unlabeled",
        "chosen_path_only",
        "keep_failed_screening",
    ):
        page.pop(name)
    form = ExportForm(page)
    assert form.is_valid(), form.errors
    assert form.options() == options


def test_the_page_sent_as_it_is_shown_is_valid():
    # given the page's form as a browser shows it (every field at its initial value)
    shown = ExportForm(initial={"test_fraction": 0.2})
    data = {}
    for name, field in shown.fields.items():
        value = shown[name].value()
        if isinstance(value, list | tuple) and not isinstance(field, IdListField):
            data[name] = list(value)
        elif value is not None and value is not False:
            data[name] = field.prepare_value(value) if isinstance(field, IdListField) else value
    data["format"] = "prm800k"
    # when it is sent back unchanged
    form = ExportForm(data)
    # then it is valid: an empty list of job ids shows as nothing, not "()"
    assert shown["jobs"].value() in ((), "", None)
    assert 'value="()"' not in str(shown["jobs"])
    assert form.is_valid(), form.errors
