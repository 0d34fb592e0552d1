"""Forms of the researcher pages; writes still go through annotation.llm.services."""

from typing import Any

from django import forms

from algorithms.model_policy import without_secrets
from annotation.core.bodies import StrictJSONFormField
from annotation.core.columns import TEXT_MAX_CHARS, max_length
from annotation.core.models import Project
from annotation.llm.models import ModelConfig, PromptPurpose, PromptTemplate
from annotation.llm.services import MODEL_FIELDS, SAMPLING_PRESETS
from annotation.problems.models import Origin, Problem
from annotation.workspace.review_filter import review_filter_field


class ModelConfigForm(forms.ModelForm[ModelConfig]):
    class Meta:
        model = ModelConfig
        fields = list(MODEL_FIELDS)  # what a model config's services take, as the API
        field_classes = {"default_sampling": StrictJSONFormField, "options": StrictJSONFormField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A row saved before options were checked may hold a secret: never show it back.
        if self.instance.pk is not None:
            self.initial["options"] = without_secrets(self.instance.options)


class PromptCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    purpose = forms.ChoiceField(choices=PromptPurpose.choices)
    text = forms.CharField(max_length=TEXT_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 16}))


class PromptEditForm(forms.Form):
    text = forms.CharField(max_length=TEXT_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 16}))
    base_number = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(max_length=255, required=False)


class SamplingFields(forms.Form):
    n = forms.IntegerField(min_value=1, max_value=256, initial=1)
    temperature = forms.FloatField(min_value=0, required=False)
    top_p = forms.FloatField(min_value=0.01, max_value=1, required=False)
    max_tokens = forms.IntegerField(min_value=1, required=False)
    seed = forms.IntegerField(required=False)
    chunk_size = forms.IntegerField(min_value=1, max_value=1000, initial=4)

    def sampling(self) -> dict[str, Any]:
        keys = ("temperature", "top_p", "max_tokens", "seed")
        return {k: self.cleaned_data[k] for k in keys if self.cleaned_data.get(k) is not None}


class ProblemFilterFields(forms.Form):
    source = forms.CharField(
        required=False,
        max_length=max_length(Problem, "source"),
        help_text="Dataset, e.g. math or prm800k.",
    )
    subject = forms.CharField(required=False, max_length=max_length(Problem, "subject"))
    level = forms.IntegerField(required=False)
    limit = forms.IntegerField(min_value=1, max_value=100_000, initial=20)


class TraceFilterFields(forms.Form):
    origin = forms.ChoiceField(choices=[("", "any"), *Origin.choices], required=False)
    from_job = forms.IntegerField(required=False, label="From job #")
    limit = forms.IntegerField(min_value=1, max_value=100_000, initial=20)


def _models(project: Project, *, scorers: bool) -> Any:
    configs = ModelConfig.objects.filter(project=project)
    return (
        configs.exclude(scorer_head="")
        if scorers
        else configs.filter(scorer_head__in=["", "judge"])
    )


def _prompts(project: Project, purpose: str) -> Any:
    return PromptTemplate.objects.filter(project=project, purpose=purpose)


class SampleJobForm(SamplingFields, ProblemFilterFields):
    preset = forms.ChoiceField(
        choices=[("", "none"), *((name, p.label) for name, p in SAMPLING_PRESETS.items())],
        required=False,
        help_text="A recipe's n and sampling, over the values below.",
    )

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"] = forms.ModelChoiceField(_models(project, scorers=False))
        self.fields["prompt"] = forms.ModelChoiceField(_prompts(project, PromptPurpose.SAMPLE))
        self.order_fields(["model", "prompt", "preset"])


class ExpandJobForm(SamplingFields, TraceFilterFields):
    """Mode expand takes traces by filter; mode rationalize takes problems with an answer."""

    mode = forms.ChoiceField(
        choices=[("expand", "Expand records"), ("rationalize", "Rationalize known answers")]
    )
    source = forms.CharField(
        required=False,
        max_length=max_length(Problem, "source"),
        help_text="Rationalize: problems of this dataset.",
    )
    review = review_filter_field("Expand: thought records by their review.")

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["origin"].initial = Origin.THOUGHT_RECORD
        self.fields["model"] = forms.ModelChoiceField(_models(project, scorers=False))
        self.fields["prompt"] = forms.ModelChoiceField(
            PromptTemplate.objects.filter(
                project=project, purpose__in=[PromptPurpose.EXPAND, PromptPurpose.RATIONALIZE]
            )
        )
        self.fields["scorer"] = forms.ModelChoiceField(
            _models(project, scorers=True), required=False, help_text="Score the new steps."
        )
        self.order_fields(["mode", "model", "prompt", "scorer"])


class ScoreJobForm(TraceFilterFields):
    chunk_size = forms.IntegerField(min_value=1, max_value=1000, initial=16)

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scorer"] = forms.ModelChoiceField(_models(project, scorers=True))
        self.order_fields(["scorer"])
