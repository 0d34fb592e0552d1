from django.conf import settings
from django.db import models

from annotation.core.models import Project
from annotation.jobs.kinds import JobKind as JobKind  # re-exported: the names of the kinds
from annotation.jobs.kinds import kind_choices


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
PHASE_MAX_LENGTH = 200


class Job(models.Model):
    """The truth about one long-running thing a person waits for."""

    kind = models.CharField(max_length=20, choices=kind_choices)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # What a running job is doing before its first progress (loading the model, starting the
    # engine): shown on its page, cleared when the work starts.
    phase = models.CharField(max_length=PHASE_MAX_LENGTH, blank=True, default="")
    result = models.JSONField(default=dict, blank=True, help_text="Counts, manifest, report.")
    input_file = models.FileField(upload_to="jobs/input/", blank=True)
    output_file = models.FileField(upload_to="jobs/output/", blank=True)
    model_version = models.CharField(max_length=255, blank=True)
    prompt_version = models.CharField(max_length=255, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(status="running"),
                name="job_running_heartbeat",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class JobShard(models.Model):
    """A part of a model job's items that any worker may take (annotation/jobs/shards.py).

    One row per chunk of items: a worker claims it with a row lock, beats its heartbeat while it
    works, and marks it succeeded; a shard whose heartbeat stopped is taken by another worker.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    items = models.JSONField(help_text="The ids of the items (problems or traces) of this shard.")
    queue = models.CharField(max_length=50)
    model_key = models.CharField(
        max_length=40, blank=True, help_text="The models the job loads, so a worker keeps them."
    )
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="A shard retried after an error waits until then."
    )
    error = models.TextField(blank=True)
    stats = models.JSONField(default=list, blank=True, help_text="What the runner reported.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="jobshard_unique_index"),
        ]
        indexes = [
            models.Index(
                fields=["queue", "job", "index"],
                condition=models.Q(status__in=["queued", "running"]),
                name="jobshard_open",
            )
        ]

    def __str__(self) -> str:
        return f"shard {self.index} of job {self.job_id} ({self.status})"
