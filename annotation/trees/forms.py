"""Forms of the tree pages; writes still go through annotation.trees.services."""

from typing import Any

from django import forms

from annotation.core.columns import TEXT_MAX_CHARS, max_length
from annotation.core.models import Project
from annotation.core.params_fields import field_default, field_help, form_params, params_form
from annotation.jobs.models import Job, JobStatus
from annotation.jobs.params import TreeParams
from annotation.llm.forms import ProblemFilterFields
from annotation.llm.models import ModelConfig, PromptPurpose, PromptTemplate
from annotation.problems.models import Problem
from annotation.trees.selectors.methods import METHODS
from annotation.trees.selectors.outputs import OUTPUT_ORIGINS, OutputFilter
from annotation.trees.selectors.rounds import ProblemFilter, tree_jobs

KEYWORDS_MAX_CHARS = 1000  # words to find or highlight, in a page's filter
DELIMITER_MAX_CHARS = 100

CORRECT_CHOICES = [("", "any"), ("yes", "answered correctly"), ("no", "not answered correctly")]


def _correct(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class FilterForm(forms.Form):
    """Filters over problems (a round's trees) and outputs (traces); all optional."""

    subject = forms.CharField(required=False, max_length=max_length(Problem, "subject"))
    level = forms.IntegerField(required=False)
    correct = forms.ChoiceField(choices=CORRECT_CHOICES, required=False)
    keyword = forms.CharField(
        required=False, max_length=KEYWORDS_MAX_CHARS, help_text="Text any step contains."
    )

    def problem_filter(self) -> ProblemFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return ProblemFilter(
            subject=data.get("subject") or "",
            level=data.get("level"),
            correct=_correct(data.get("correct") or ""),
            keyword=data.get("keyword") or "",
        )


class OutputFilterForm(FilterForm):
    job = forms.IntegerField(required=False, label="Job (round) #")
    origin = forms.ChoiceField(
        choices=[("", "any"), *[(o.value, o.label) for o in OUTPUT_ORIGINS]], required=False
    )
    method = forms.ChoiceField(choices=[("", "any"), *METHODS.items()], required=False)
    keywords = forms.CharField(
        required=False,
        max_length=KEYWORDS_MAX_CHARS,
        help_text="Comma-separated words to highlight and count; empty: the defaults.",
    )

    def output_filter(self) -> OutputFilter:
        base = self.problem_filter()
        data = self.cleaned_data if self.is_valid() else {}
        return OutputFilter(
            subject=base.subject,
            level=base.level,
            correct=base.correct,
            keyword=base.keyword,
            job_id=data.get("job"),
            origin=data.get("origin") or "",
            method=data.get("method") or "",
        )


def _generators(project: Project) -> Any:
    return ModelConfig.objects.filter(project=project, scorer_head__in=["", "judge"])


# The tree form's own labels of TreeParams fields (the rest read the field's name).
TREE_LABELS = {"width": "w (candidates)", "keep": "K (kept per depth)", "max_depth": "D (depth)"}
TREE_MODE_LABELS = {
    "beam": "beam (top K by score)",
    "judge": "judge (K judged correct)",
    "mcts": "MCTS (PUCT)",
}


def _escaped(text: str) -> str:
    """A delimiter as the form shows it: a newline as \\n, a tab as \\t."""
    return text.replace("\n", "\\n").replace("\t", "\\t")


class TreeJobForm(
    ProblemFilterFields,
    params_form(TreeParams, exclude={"problem_ids", "model", "scorer"}),  # type: ignore[misc]
):
    """The problems by filter, the two models, then TreeParams' fields (which check them)."""

    model = forms.ModelChoiceField(queryset=ModelConfig.objects.none(), label="Policy")
    scorer = forms.ModelChoiceField(queryset=ModelConfig.objects.none(), label="PRM or judge")
    mode = forms.ChoiceField(
        choices=list(TREE_MODE_LABELS.items()), initial=field_default(TreeParams, "mode")
    )
    delimiter = forms.CharField(
        initial=_escaped(field_default(TreeParams, "delimiter")),
        strip=False,
        max_length=DELIMITER_MAX_CHARS,
        help_text="Step delimiter; \\n means a newline.",
    )
    prompt = forms.CharField(
        max_length=TEXT_MAX_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        initial=field_default(TreeParams, "prompt"),
        help_text=field_help(TreeParams, "prompt"),
    )
    temperature = forms.FloatField(min_value=0, required=False)
    max_tokens = forms.IntegerField(min_value=1, required=False)
    seed = forms.IntegerField(required=False)

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in TREE_LABELS.items():
            self.fields[name].label = label
        self.fields["model"].queryset = _generators(project)  # type: ignore[attr-defined]
        self.fields["scorer"].queryset = ModelConfig.objects.filter(  # type: ignore[attr-defined]
            project=project
        ).exclude(scorer_head="")

    def sampling(self) -> dict[str, Any]:
        keys = ("temperature", "max_tokens", "seed")
        return {k: self.cleaned_data[k] for k in keys if self.cleaned_data.get(k) is not None}

    def clean_delimiter(self) -> str:
        value: str = self.cleaned_data["delimiter"]
        return value.replace("\\n", "\n").replace("\\t", "\t")

    def values(self) -> dict[str, Any]:
        """The TreeParams values chosen, as JSON (an empty one is the class's default); the
        models and the problems are the caller's."""
        chosen = {k: v for k, v in self.cleaned_data.items() if k not in ("model", "scorer")}
        return {**form_params(TreeParams, chosen), "sampling": self.sampling()}


def _round_label(job: Any) -> str:
    count = job.correct_leaf_count
    when = job.created_at.strftime("%Y-%m-%d %H:%M")
    name = job.model_version or "round"
    if not count:
        return f"#{job.pk} {name} ({when}): no correct leaf, nothing to derive"
    return f"#{job.pk} {name} ({when}): {count} correct lea{'f' if count == 1 else 'ves'}"


class RoundSelect(forms.Select):
    """The rounds, newest first; those without a correct leaf are disabled."""

    def __init__(self, *, without_correct: set[int]) -> None:
        super().__init__()
        self.without_correct = without_correct

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        key = getattr(value, "value", value)
        if key in self.without_correct:
            option["attrs"]["disabled"] = True
        return option


class LongThoughtJobForm(forms.Form):
    tree_job = forms.ModelChoiceField(queryset=Job.objects.none(), label="Tree job (round)")
    k = forms.IntegerField(
        min_value=0,
        max_value=64,
        initial=2,
        label="K",
        help_text="Trials at each node of a correct path, the correct move counted (the "
        "report's K: 2 is one wrong trial and the correct one).",
    )
    k_meaning = forms.ChoiceField(
        choices=[
            ("trials", "trials per node, the correct move counted (the report)"),
            ("wrong_detours", "wrong detours before the correct move"),
        ],
        initial="trials",
        label="K counts",
    )
    max_paths = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        label="Long thoughts per problem",
        help_text="One per correct path; empty: every correct path.",
    )
    seed = forms.IntegerField(initial=0)
    rewriter = forms.ModelChoiceField(
        queryset=ModelConfig.objects.none(), required=False, label="Rewrite with (optional)"
    )
    rewrite_prompt = forms.ModelChoiceField(
        queryset=PromptTemplate.objects.none(),
        required=False,
        help_text="Its latest version is recorded with the job; empty: the project's rewrite "
        "prompt (the built-in one is added if there is none).",
    )
    temperature = forms.FloatField(min_value=0, initial=0.7, required=False)
    top_p = forms.FloatField(min_value=0.01, max_value=1, initial=0.95, required=False)
    max_tokens = forms.IntegerField(
        min_value=1,
        initial=4096,
        required=False,
        help_text="A rewrite cut at this length is kept but flagged, and left out of sft-journey.",
    )
    chunk_size = forms.IntegerField(min_value=1, max_value=1000, initial=16)

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rounds = tree_jobs(project).filter(status=JobStatus.SUCCEEDED).order_by("-pk")
        field = self.fields["tree_job"]
        # Each round with its count of correct leaves; one with none would make an empty job,
        # so it is listed, disabled, with the reason.
        field.widget = RoundSelect(
            without_correct={r.pk for r in rounds if not getattr(r, "correct_leaf_count", 0)}
        )
        field.label_from_instance = _round_label  # type: ignore[attr-defined]
        field.queryset = rounds  # type: ignore[attr-defined]  # after the widget: its choices
        self.fields["rewriter"].queryset = _generators(project)  # type: ignore[attr-defined]
        self.fields["rewrite_prompt"].queryset = PromptTemplate.objects.filter(  # type: ignore[attr-defined]
            project=project, purpose=PromptPurpose.REWRITE
        )

    def clean_tree_job(self) -> Any:
        job = self.cleaned_data["tree_job"]
        if not job.correct_leaf_count:
            raise forms.ValidationError(
                f"Round #{job.pk} has no correct leaf, so no long thought can be derived from "
                "it: choose a round with correct leaves, or build a new one."
            )
        return job

    def sampling(self) -> dict[str, Any]:
        keys = ("temperature", "top_p", "max_tokens")
        return {k: self.cleaned_data[k] for k in keys if self.cleaned_data.get(k) is not None}


class SteeredJobForm(ProblemFilterFields):
    """What both loops the model steers itself take: the policy, limits per problem, and one
    step's sampling."""

    model = forms.ModelChoiceField(queryset=ModelConfig.objects.none(), label="Policy")
    max_steps = forms.IntegerField(
        min_value=1, max_value=256, initial=16, help_text="Policy turns per problem."
    )
    max_backtracks = forms.IntegerField(min_value=0, max_value=256, initial=4)
    max_tokens = forms.IntegerField(
        min_value=1,
        max_value=1_000_000,
        initial=8192,
        help_text="Tokens generated per problem, every role counted.",
    )
    temperature = forms.FloatField(min_value=0, required=False)
    step_tokens = forms.IntegerField(
        min_value=1, required=False, label="Max tokens per reply", help_text="Empty: the model's."
    )
    seed = forms.IntegerField(required=False)
    chunk_size = forms.IntegerField(
        min_value=1, max_value=1000, initial=8, help_text="Problems per shard, batched per turn."
    )

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = _generators(project)  # type: ignore[attr-defined]

    def sampling(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {
            "temperature": data.get("temperature"),
            "max_tokens": data.get("step_tokens"),
            "seed": data.get("seed"),
        }
        return {k: v for k, v in values.items() if v is not None}


class PolicyCriticJobForm(SteeredJobForm):
    critic = forms.ModelChoiceField(
        queryset=ModelConfig.objects.none(),
        required=False,
        help_text="Empty: the policy's model judges, under the critic prompt.",
    )
    critic_temperature = forms.FloatField(min_value=0, required=False)

    def __init__(self, project: Project, *args: Any, **kwargs: Any) -> None:
        super().__init__(project, *args, **kwargs)
        self.fields["critic"].queryset = _generators(project)  # type: ignore[attr-defined]

    def critic_sampling(self) -> dict[str, Any]:
        value = self.cleaned_data.get("critic_temperature")
        return {} if value is None else {"temperature": value}
