"""Model configurations and versioned prompt templates, per project.

A job snapshots the configuration and the prompt version it starts with (into Job.params),
so editing either later never changes what a finished or running job did.
"""

from typing import Any

from django.conf import settings
from django.db import models

from algorithms.choices import (
    BACKEND_LABELS,
    NO_SCORER_HEAD,
    SCORER_HEAD_LABELS,
    BackendKind,
    ScorerHead,
    labelled,
    values,
)
from algorithms.model_policy import without_secrets
from annotation.core.models import Project

# The values and labels are algorithms/choices.py's, shared with the job parameters and workers.
BACKEND_CHOICES = labelled(BackendKind, BACKEND_LABELS)
SCORER_HEAD_CHOICES = labelled(ScorerHead, SCORER_HEAD_LABELS, blank=NO_SCORER_HEAD)


class ModelConfig(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_configs")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=BACKEND_CHOICES)
    path_or_endpoint = models.CharField(
        max_length=500, help_text="A model directory, or an endpoint such as http://host:8000/v1."
    )
    served_name = models.CharField(
        max_length=200, blank=True, help_text="The model name an OpenAI-compatible endpoint serves."
    )
    dtype = models.CharField(max_length=20, default="auto")
    max_length = models.PositiveIntegerField(null=True, blank=True)
    default_sampling = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"temperature": 0.7, "max_tokens": 1024}'
    )
    scorer_head = models.CharField(
        max_length=20, choices=SCORER_HEAD_CHOICES, default=NO_SCORER_HEAD, blank=True
    )
    use_chat_template = models.BooleanField(
        default=True, help_text="Send prompts as a user message through the chat template."
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="Loader options allowed for the kind (e.g. vLLM engine sizes); never secrets.",
    )
    # Loading may run Python code from the model directory (config `auto_map` classes, e.g. the
    # released Qwen2.5-Math-PRM head). Only a project admin turns it on (see services).
    trust_remote_code = models.BooleanField(
        default=False,
        help_text="Run Python code shipped in the model directory. Only a project admin may "
        "turn this on, for a directory they have checked.",
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="modelconfig_unique_name"),
            models.CheckConstraint(
                condition=models.Q(kind__in=list(values(BackendKind))),
                name="modelconfig_kind_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(scorer_head__in=[NO_SCORER_HEAD, *values(ScorerHead)]),
                name="modelconfig_scorer_head_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def is_scorer(self) -> bool:
        return bool(self.scorer_head)

    def snapshot(self) -> dict[str, Any]:
        """What a job needs to load this model, frozen at the job's start."""
        return {
            "name": self.served_name or self.name,
            "label": self.label,
            "kind": self.kind,
            "path_or_endpoint": self.path_or_endpoint,
            "dtype": self.dtype,
            "max_length": self.max_length,
            "default_sampling": self.default_sampling,
            "scorer_head": self.scorer_head or None,
            "use_chat_template": self.use_chat_template,
            # Options are checked on save; a row saved before that may still hold a secret.
            "options": without_secrets(self.options),
            "trust_remote_code": self.trust_remote_code,
        }


class PromptPurpose(models.TextChoices):
    EXPAND = "expand", "Expand a record into long-form reasoning"
    RATIONALIZE = "rationalize", "Rationalize a known answer (STaR)"
    SAMPLE = "sample", "Solve a problem"
    REWRITE = "rewrite", "Rewrite a long-thought draft fluently"


# The placeholders each purpose fills in.
PURPOSE_VARIABLES: dict[str, frozenset[str]] = {
    PromptPurpose.EXPAND: frozenset({"problem", "record"}),
    PromptPurpose.RATIONALIZE: frozenset({"problem", "answer"}),
    PromptPurpose.SAMPLE: frozenset({"problem"}),
    PromptPurpose.REWRITE: frozenset({"problem", "draft"}),
}


class PromptTemplate(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompt_templates")
    name = models.CharField(max_length=100)
    purpose = models.CharField(max_length=20, choices=PromptPurpose.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="prompttemplate_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """One saved text of a template; an edit adds a version, earlier ones stay."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "number"], name="promptversion_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.template.name}@v{self.number}"
