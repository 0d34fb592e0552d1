"""Forms of the training pages; the hyperparameter and reward fields are made from their
dataclasses, with their defaults (the learning rate per method) as initial values."""

from dataclasses import fields
from typing import Any

from django import forms

from algorithms.choices import LOCAL_BACKENDS, PRM_HEADS
from algorithms.rewards import AGGREGATIONS, RewardSpec
from algorithms.training import Hyperparameters
from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.llm.forms import ProblemFilterFields, SamplingFields
from annotation.llm.models import ModelConfig, PromptPurpose, PromptTemplate
from annotation.training.params import FORMATS_FOR_METHOD, SPLITS

HYPERPARAMETER_HELP = {
    "epochs": "Passes over the training rows.",
    "batch_size": "Rows per device and step.",
    "gradient_accumulation": "Batches per optimizer step.",
    "max_length": "Tokens per row; longer rows are cut.",
    "lora": "Train LoRA adapters (merged into the saved model) instead of every weight.",
    "logging_steps": "Loss and learning rate are plotted every this many steps.",
    "save_steps": "A checkpoint to resume from every this many steps.",
    "beta": "The weight of the KL penalty against the starting model (GRPO: 0 trains without "
    "a reference model).",
    "max_steps": "Stop after this many optimizer steps (empty: the epochs decide).",
    "group_size": "Completions sampled per problem; each is rewarded against its group's mean.",
    "max_new_tokens": "Tokens per completion at most.",
}
REWARD_HELP = {
    "outcome_weight": "Weight of the answer check: 1 for an answer equivalent to the problem's.",
    "process_weight": "Weight of the PRM's score of the completion's steps (0: no PRM).",
    "aggregation": "How the step scores become one: the worst step, the last step, or all "
    "steps good (their product).",
}


def export_choices(project: Project, method: str) -> list[tuple[int, str]]:
    formats = FORMATS_FOR_METHOD[method]
    exports = Job.objects.filter(
        project=project, kind=JobKind.EXPORT, status=JobStatus.SUCCEEDED
    ).order_by("-id")[:200]
    choices = []
    for job in exports:
        manifest = job.result.get("manifest") or {}
        if manifest.get("format") in formats:
            rows = (manifest["splits"].get("train") or {}).get("rows", 0)
            choices.append((job.pk, f"#{job.pk} {manifest['format']}: {rows} training rows"))
    return choices


def hyperparameter_field(name: str, default: Any, kind: Any) -> forms.Field:
    help_text = HYPERPARAMETER_HELP.get(name, "")
    if kind is bool or kind == "bool":
        return forms.BooleanField(required=False, initial=default, help_text=help_text)
    if kind is float or kind == "float":
        return forms.FloatField(initial=default, help_text=help_text)
    required = default is not None
    return forms.IntegerField(required=required, initial=default, help_text=help_text)


class TrainingJobForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Of the model config the run registers.")

    def __init__(self, project: Project, method: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.method = method
        self.fields["export"] = forms.TypedChoiceField(
            choices=export_choices(project, method),
            coerce=int,
            help_text=f"A finished export in {' or '.join(FORMATS_FOR_METHOD[method])}.",
        )
        bases = ModelConfig.objects.filter(project=project, kind__in=["vllm", "transformers"])
        bases = bases.filter(scorer_head__in=["", *PRM_HEADS] if method == "prm" else [""])
        self.fields["base"] = forms.ModelChoiceField(bases, help_text="The model to start from.")
        if method == "prm":
            self.fields["head"] = forms.ChoiceField(choices=[(h, h) for h in PRM_HEADS])
        add_hyperparameter_fields(self, method)
        self.order_fields(["export", "base", "head", "name"])

    def hyperparameters(self) -> dict[str, Any]:
        return chosen_hyperparameters(self)


def add_hyperparameter_fields(form: forms.Form, method: str) -> None:
    defaults = Hyperparameters.for_method(method)
    used = Hyperparameters.used_by(method)
    for item in fields(Hyperparameters):
        if item.name not in used:
            continue
        form.fields[item.name] = hyperparameter_field(
            item.name, getattr(defaults, item.name), item.type
        )


def chosen_hyperparameters(form: forms.Form) -> dict[str, Any]:
    names = {f.name for f in fields(Hyperparameters)}
    return {k: v for k, v in form.cleaned_data.items() if k in names}


class GRPOJobForm(ProblemFilterFields):
    """GRPO: a policy, its problems (an export's split, or a filter), the reward, and the
    hyperparameters; defaults from RewardSpec and Hyperparameters."""

    name = forms.CharField(max_length=100, help_text="Of the policy the run registers.")

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base"] = forms.ModelChoiceField(
            ModelConfig.objects.filter(project=project, kind__in=LOCAL_BACKENDS, scorer_head=""),
            help_text="The policy to start from: a base model or an SFT model.",
        )
        self.fields["prompt"] = forms.ModelChoiceField(
            PromptTemplate.objects.filter(project=project, purpose=PromptPurpose.SAMPLE),
            help_text="Renders each problem, as the evaluation's prompt does.",
        )
        exports = [
            (job.pk, f"#{job.pk} {job.result['manifest']['format']}")
            for job in Job.objects.filter(
                project=project, kind=JobKind.EXPORT, status=JobStatus.SUCCEEDED
            ).order_by("-id")[:200]
        ]
        self.fields["export"] = forms.TypedChoiceField(
            choices=[("", "— problems by the filter below —"), *exports],
            coerce=int,
            empty_value=None,
            required=False,
            help_text="Practise on one side of this export's split.",
        )
        self.fields["split"] = forms.ChoiceField(choices=[(s, s) for s in SPLITS])
        defaults = RewardSpec()
        for name in ("outcome_weight", "process_weight"):
            self.fields[name] = forms.FloatField(
                initial=getattr(defaults, name), min_value=0.0, help_text=REWARD_HELP[name]
            )
        self.fields["aggregation"] = forms.ChoiceField(
            choices=[(a, a) for a in AGGREGATIONS], help_text=REWARD_HELP["aggregation"]
        )
        self.fields["reward_model"] = forms.ModelChoiceField(
            ModelConfig.objects.filter(
                project=project, kind="transformers", scorer_head__in=PRM_HEADS
            ),
            required=False,
            help_text="The PRM that scores the steps (with a process weight above 0).",
        )
        add_hyperparameter_fields(self, "grpo")
        self.order_fields(
            [
                "name",
                "base",
                "prompt",
                "export",
                "split",
                "source",
                "subject",
                "level",
                "limit",
                "outcome_weight",
                "process_weight",
                "aggregation",
                "reward_model",
            ]
        )

    def reward(self) -> dict[str, Any]:
        names = {f.name for f in fields(RewardSpec)}
        return {k: v for k, v in self.cleaned_data.items() if k in names}

    def hyperparameters(self) -> dict[str, Any]:
        return chosen_hyperparameters(self)


class EvaluationForm(SamplingFields, ProblemFilterFields):
    """Several models, one held-out set: an export's test split, or problems by filter."""

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["models"] = forms.ModelMultipleChoiceField(
            ModelConfig.objects.filter(project=project, scorer_head=""),
            help_text="Each is a row of the results table, in this order.",
        )
        self.fields["prompt"] = forms.ModelChoiceField(
            PromptTemplate.objects.filter(project=project, purpose=PromptPurpose.SAMPLE)
        )
        exports = [
            (job.pk, f"#{job.pk} {job.result['manifest']['format']}")
            for job in Job.objects.filter(
                project=project, kind=JobKind.EXPORT, status=JobStatus.SUCCEEDED
            ).order_by("-id")[:200]
            if "test" in job.result.get("manifest", {}).get("splits", {})
        ]
        self.fields["export"] = forms.TypedChoiceField(
            choices=[("", "— problems by the filter below —"), *exports],
            coerce=int,
            empty_value=None,
            required=False,
            help_text="Evaluate on the test split of this export.",
        )
        self.fields["n"].label = "Samples per problem (k)"
        self.fields["n"].initial = 4
        self.order_fields(["models", "prompt", "export", "n"])
