"""Monte-Carlo rollouts kept for inspection, and when machine suggestions were shown.

The labels themselves are Grade rows of the job's GradeSource (kind monte_carlo): score = the
soft label (fraction of rollouts that reached the ground truth), rating = the hard label
(+1 if any did, -1 if none did).
"""

from django.conf import settings
from django.db import models

from annotation.core.models import Project
from annotation.jobs.models import Job
from annotation.problems.models import StepNode


class Rollout(models.Model):
    """One completion sampled from the prefix that ends on `node`."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="rollouts", db_index=False)
    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="rollouts")
    index = models.PositiveSmallIntegerField(help_text="Sample index among the prefix's n.")
    text = models.TextField()
    answer = models.TextField(null=True, blank=True, help_text="The answer extracted, if any.")
    reached = models.BooleanField(help_text="The answer equals the problem's ground truth.")
    token_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "node", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "node", "index"], name="rollout_unique_sample")
        ]

    def __str__(self) -> str:
        return f"rollout {self.index} of {self.node_id} (job {self.job_id})"


class SuggestionSetting(models.Model):
    """A change of Project.show_machine_suggestions made through the evaluation page, so the
    agreement report can tell grades given with suggestions from grades given without."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="suggestion_settings"
    )
    shown = models.BooleanField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "changed_at", "id"]
        indexes = [models.Index(fields=["project", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.project_id}: suggestions {'on' if self.shown else 'off'}"
