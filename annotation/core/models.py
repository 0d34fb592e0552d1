from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from annotation.core.columns import TEXT_MAX_CHARS


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    RESEARCHER = "researcher", "Researcher"
    ADMIN = "admin", "Admin"


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    guidelines = models.TextField(
        blank=True, max_length=TEXT_MAX_CHARS, help_text="Markdown shown beside the editors."
    )
    record_guidelines = models.TextField(
        blank=True,
        max_length=TEXT_MAX_CHARS,
        default="",
        help_text="Markdown shown beside the thought-record editor (how to record a thought "
        "process); empty: none.",
    )
    # Label settings
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="How many annotators grade or record each item."
    )
    show_ground_truth = models.BooleanField(default=True)
    stop_at_first_bad_step = models.BooleanField(default=True)
    show_machine_suggestions = models.BooleanField(default=False)
    claim_timeout_minutes = models.PositiveIntegerField(default=60)
    # Screening and quality control (docs/annotators.md)
    screening_threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="Share of screening steps a new annotator must grade as the gold does "
        "(0 to 1) before real work; empty: no screening.",
    )
    qc_rate = models.FloatField(
        default=0.0, help_text="Share of an annotator's grading items that are QC items (0 to 1)."
    )
    # What a model may add to the annotators' work
    continuation_model = models.ForeignKey(
        "llm.ModelConfig",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The generator that continues a solution from an annotator's chosen or "
        "written step; empty: no continuations.",
    )
    queue_job_outputs = models.BooleanField(
        default=False,
        help_text="Put every model job's outputs in the annotators' queue; off: only what a "
        "researcher sends there.",
    )
    # What the Export data page offers first
    export_test_fraction = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.99)],
        help_text="The test fraction the Export data page offers: the share of problems an "
        "export keeps out of train, so that what is trained on it can be evaluated (0 to 0.99).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(overlap__gte=1), name="project_overlap_gte_1"
            ),
            models.CheckConstraint(
                condition=models.Q(qc_rate__gte=0, qc_rate__lte=1), name="project_qc_rate_share"
            ),
            models.CheckConstraint(
                condition=models.Q(screening_threshold__isnull=True)
                | models.Q(screening_threshold__gte=0, screening_threshold__lte=1),
                name="project_screening_threshold_share",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class ApiToken(models.Model):
    """A personal API token (`Authorization: Token KEY`). Only the key's sha256 is stored; it
    expires, is deleted on logout, and dies with a password change (`auth_hash` is the user's
    session hash when it was made, as Django's sessions keep). See annotation/core/tokens.py."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="The key's first characters, to tell it.")
    auth_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"token {self.prefix}… of {self.user_id}"
