"""Forms of the evaluation pages; writes still go through annotation.evaluation.services."""

from typing import Any

from django import forms

from annotation.core.models import Project
from annotation.jobs.models import JobKind
from annotation.llm.forms import SamplingFields, TraceFilterFields
from annotation.llm.models import ModelConfig, PromptPurpose, PromptTemplate


class MonteCarloJobForm(SamplingFields, TraceFilterFields):
    mode = forms.ChoiceField(
        choices=[
            ("all", "Label every step (n rollouts per prefix)"),
            ("binary_search", "Find the first error by binary search (OmegaPRM)"),
        ]
    )

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["n"].initial = 8
        self.fields["n"].label = "Rollouts per prefix"
        self.fields["model"] = forms.ModelChoiceField(
            ModelConfig.objects.filter(project=project, scorer_head__in=["", "judge"]),
            label="Policy",
        )
        self.fields["prompt"] = forms.ModelChoiceField(
            PromptTemplate.objects.filter(project=project, purpose=PromptPurpose.SAMPLE),
            help_text="A solve prompt; the prefix of the solution follows it.",
        )
        self.order_fields(["mode", "model", "prompt", "n"])


class BestOfNForm(forms.Form):
    job = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Samples of")

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        jobs = project.jobs.filter(kind=JobKind.SAMPLE).order_by("-id")[:100]
        self.fields["job"].choices = [  # type: ignore[attr-defined]
            ("", "every sample job"),
            *((job.pk, f"job #{job.pk} · {job.model_version}") for job in jobs),
        ]
