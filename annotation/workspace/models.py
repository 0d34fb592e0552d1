"""The annotator's workspace: claims on queue items, their drafts, reviews and gold items.

An item is either a trace to grade (kind "grade") or a problem to record a thought process on
(kind "record"). One Assignment row per (item, annotator) is the claim; its `version` makes every
save a compare-and-swap, so two tabs never overwrite each other silently. A submitted claim is
final until a reviewer returns it (AssignmentEvent keeps each submit, return and decision).

Gold items (screening and quality control) measure annotators; an annotator's Standing in a
project says whether they are screened, active or paused; QueuedTrace holds the model outputs a
researcher sent to the annotators' queue.
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
    RETURNED = "returned", "Returned to the annotator"


class Purpose(models.TextChoices):
    """Why an item was given: real work, or a gold item that measures the annotator. Never
    shown to the annotator (annotation/workspace/disclosure.py)."""

    WORK = "work", "Work"
    QC = "qc", "Quality control"
    SCREENING = "screening", "Screening"


# Claims that take one of the `overlap` places of an item.
ACTIVE_STATUSES = (AssignmentStatus.IN_PROGRESS, AssignmentStatus.SUBMITTED)
# Claims whose work may still change (an expired one is taken back on its next save); the
# others are final, shown read-only.
OPEN_STATUSES = (AssignmentStatus.IN_PROGRESS, AssignmentStatus.EXPIRED)


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
    time_counted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When time on the item was last added (services/time_on_item.py): the next "
        "flush adds no more than the wall time since.",
    )
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
    work_trace = models.OneToOneField(
        Trace,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_assignment",
        help_text="The annotator's own path (origin labeled) once it leaves the trace's: an "
        "alternative chosen, a step written, a continuation (kind grade).",
    )
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.WORK)
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

    @property
    def graded_trace_id(self) -> int | None:
        """The trace the annotator's grades are given in: their own path once they left the
        trace's, else the trace."""
        return self.work_trace_id or self.trace_id


class GoldKind(models.TextChoices):
    QC = "qc", "Quality control"
    SCREENING = "screening", "Screening"


class GoldItem(models.Model):
    """A screening or quality-control trace: its reference grades are the current grades of
    `source`."""

    trace = models.OneToOneField(Trace, on_delete=models.CASCADE, related_name="gold")
    source = models.ForeignKey(
        "grading.GradeSource", on_delete=models.PROTECT, related_name="gold_items"
    )
    kind = models.CharField(max_length=10, choices=GoldKind.choices, default=GoldKind.QC)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} gold trace {self.trace_id}"


class EventKind(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    RETURNED = "returned", "Returned"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class AssignmentEvent(models.Model):
    """One step of a claim's life after work began: a submit, a return, a review decision."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    version = models.PositiveIntegerField(help_text="The assignment's version after the event.")
    comment = models.TextField(blank=True)
    record = models.ForeignKey(
        Trace,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The thought record a submit wrote (a returned record's later submit writes "
        "another; the earlier one is superseded).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assignment", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} of assignment {self.assignment_id} at version {self.version}"


class StandingStatus(models.TextChoices):
    SCREENING = "screening", "In screening"
    ACTIVE = "active", "Active"
    FAILED = "failed", "Did not pass screening"
    PAUSED = "paused", "Paused"


class Standing(models.Model):
    """An annotator's standing in a project: made on their first claim (in screening when the
    project screens, else active)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="standings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="standings"
    )
    status = models.CharField(max_length=10, choices=StandingStatus.choices)
    screening_accuracy = models.FloatField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="standing_one_per_member")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} is {self.status} in {self.project_id}"


class QueuedTrace(models.Model):
    """A model output a researcher sent to the annotators' queue (imported traces and human
    solutions are there without it)."""

    trace = models.OneToOneField(Trace, on_delete=models.CASCADE, related_name="queued")
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    job = models.ForeignKey(
        "jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"trace {self.trace_id} sent to the queue"


class QueueEntry(models.Model):
    """A gradeable trace's place in the annotators' grading queue, kept by the database
    (migration 0004's triggers, so every write path keeps it: the services' ORM, the
    importer's COPY, a job's bulk statements): whether it is in the queue without the project
    queueing every job's output (imported, a person's solution, or sent by a researcher), its
    active claims (in progress or submitted), and its machine disagreement (the expression
    annotation/evaluation/selectors.py `machine_disagreement` computes, stored). A claim and
    the queue page read it through its indexes, however large the project (PostgreSQL; the
    SQLite first-run database computes the same order directly)."""

    trace = models.OneToOneField(
        Trace, on_delete=models.CASCADE, primary_key=True, related_name="queue_entry"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    origin = models.CharField(max_length=20)
    queued = models.BooleanField(default=False)
    active = models.IntegerField(default=0)
    priority = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                "project",
                "active",
                models.F("priority").desc(nulls_last=True),
                "trace",
                condition=models.Q(queued=True),
                name="queue_entry_queued_order",
            ),
            models.Index(
                "project",
                "active",
                models.F("priority").desc(nulls_last=True),
                "trace",
                name="queue_entry_order",
            ),
        ]

    def __str__(self) -> str:
        return f"trace {self.trace_id}: {self.active} active, priority {self.priority}"


class QueueSize(models.Model):
    """A project's queue entries counted (kept by a trigger on the entry table, migration
    0004): those in the queue, and the model outputs not sent (in the queue too when the
    project queues every job's outputs). The dashboard reads it instead of counting."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="queue_size"
    )
    queued = models.BigIntegerField(default=0)
    outputs = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.project_id}: {self.queued} queued, {self.outputs} outputs not sent"
