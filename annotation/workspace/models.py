"""The annotator's workspace: claims on queue items, their drafts, reviews and gold items.

An item is either a trace to grade (kind "grade") or a problem to record a thought process on
(kind "record"). One Assignment row per (item, annotator) is the claim; its `version` makes every
save a compare-and-swap, so two tabs never overwrite each other silently.
"""

from django.conf import settings
from django.db import models

from annotation.core.models import Project
from annotation.problems.models import FinishReason, Problem, Trace


class ItemKind(models.TextChoices):
    GRADE = "grade", "Grade a trace"
    RECORD = "record", "Record a thought process"


class AssignmentStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


class ReviewStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


# Claims that take one of the `overlap` places of an item.
ACTIVE_STATUSES = (AssignmentStatus.IN_PROGRESS, AssignmentStatus.SUBMITTED)


class Assignment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    kind = models.CharField(max_length=10, choices=ItemKind.choices)
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="assignments")
    trace = models.ForeignKey(
        Trace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="assignments",
        help_text="The trace to grade (kind grade).",
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(
        max_length=20, choices=AssignmentStatus.choices, default=AssignmentStatus.IN_PROGRESS
    )
    version = models.PositiveIntegerField(default=1)
    draft = models.JSONField(default=dict, blank=True)
    time_spent_ms = models.BigIntegerField(default=0)
    finish_reason = models.CharField(
        max_length=20, choices=FinishReason.choices, null=True, blank=True
    )
    skip_reason = models.TextField(blank=True)
    record = models.OneToOneField(
        Trace,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="record_assignment",
        help_text="The thought record written on submit (kind record).",
    )
    claimed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    review_status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, null=True, blank=True
    )
    review_comment = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviewed_assignments",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trace", "annotator"],
                condition=models.Q(kind="grade"),
                name="assignment_one_per_trace_and_annotator",
            ),
            models.UniqueConstraint(
                fields=["problem", "annotator"],
                condition=models.Q(kind="record"),
                name="assignment_one_record_per_problem_and_annotator",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="grade", trace__isnull=False)
                | models.Q(kind="record", trace__isnull=True),
                name="assignment_trace_iff_grade",
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="assignment_version_gte_1"
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "kind", "annotator"],
                condition=models.Q(status="in_progress"),
                name="assignment_in_progress",
            ),
            models.Index(fields=["trace", "status"], name="assignment_trace_status"),
            models.Index(fields=["problem", "kind", "status"], name="assignment_problem_status"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} assignment {self.pk} of {self.annotator_id} ({self.status})"


class GoldItem(models.Model):
    """A quality-control trace: its reference grades are the current grades of `source`."""

    trace = models.OneToOneField(Trace, on_delete=models.CASCADE, related_name="gold")
    source = models.ForeignKey(
        "grading.GradeSource", on_delete=models.PROTECT, related_name="gold_items"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"gold trace {self.trace_id}"
