"""The form of a project's screening, QC, continuation and queue settings: one definition, shown
on the Screening and QC page and as a section of the project's settings page
(annotation/projects.py). The rules (shares from 0 to 1, a generator of the project) are the
service's, `project_quality_update`, so both pages say the same thing."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation.core.models import Project
from annotation.llm.models import ModelConfig

SHARE = forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"})


class QualitySettingsForm(forms.Form):
    screening_threshold = forms.FloatField(
        required=False,
        widget=SHARE,
        label="Screening pass threshold (0 to 1)",
        help_text="A new annotator grades the screening items first and gets real work only "
        "with at least this share of their steps graded as the gold. Empty: no screening.",
    )
    qc_rate = forms.FloatField(
        required=False,
        widget=SHARE,
        label="QC rate (0 to 1)",
        help_text="The share of each annotator's grading items that are QC items, at places "
        "they cannot guess.",
    )
    continuation_model = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Model that continues an annotator's path",
        help_text="A generator of the project; None: no continuations.",
    )
    queue_job_outputs = forms.BooleanField(
        required=False,
        label="Put every model job's outputs in the annotators' queue (off: only outputs a "
        "researcher sends there)",
    )

    def __init__(self, *args: Any, project: Project | None, **kwargs: Any) -> None:
        if project is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "screening_threshold": project.screening_threshold,
                "qc_rate": project.qc_rate,
                "continuation_model": project.continuation_model_id,
                "queue_job_outputs": project.queue_job_outputs,
            }
        super().__init__(*args, **kwargs)
        models = (
            ModelConfig.objects.filter(project=project, scorer_head="").order_by("name")
            if project is not None and project.pk
            else ModelConfig.objects.none()
        )
        field = self.fields["continuation_model"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "None"), *((m.pk, m.label) for m in models)]

    def settings(self) -> dict[str, Any]:
        """The cleaned values as project_quality_update takes them."""
        data = self.cleaned_data
        return {
            "screening_threshold": data["screening_threshold"],
            "qc_rate": data["qc_rate"] if data["qc_rate"] is not None else 0.0,
            "continuation_model": data["continuation_model"],
            "queue_job_outputs": data["queue_job_outputs"],
        }


QUALITY_FIELDS: tuple[str, ...] = tuple(QualitySettingsForm.base_fields)
