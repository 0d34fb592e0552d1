from django.conf import settings
from django.db import models

from annotation.problems.models import StepNode, Trace


class SourceKind(models.TextChoices):
    HUMAN = "human", "Annotator"
    DATASET = "dataset", "Imported dataset"
    PRM = "prm", "Process reward model run"
    JUDGE = "judge", "LLM judge run"
    MONTE_CARLO = "monte_carlo", "Monte-Carlo rollouts"


class GradeSource(models.Model):
    """Who or what graded: an annotator, a model run (a job), or an imported dataset."""

    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    name = models.CharField(max_length=255, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="grade_source",
    )
    job = models.OneToOneField(
        "jobs.Job", on_delete=models.CASCADE, null=True, blank=True, related_name="grade_source"
    )

    def __str__(self) -> str:
        return self.name


class Grade(models.Model):
    """A grade of one node by one source; earlier versions stay with is_current=False."""

    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="grades")
    source = models.ForeignKey(
        GradeSource, on_delete=models.CASCADE, related_name="grades", db_index=False
    )
    trace = models.ForeignKey(  # indexed by (trace, source) below
        Trace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        db_index=False,
        related_name="grades",
        help_text="The trace in which the grade was given.",
    )
    rating = models.SmallIntegerField(null=True, blank=True, help_text="-1, 0 or +1 (people).")
    score = models.FloatField(null=True, blank=True, help_text="A machine's score, e.g. P(good).")
    unsure = models.BooleanField(default=False, db_default=False)
    flagged = models.BooleanField(null=True, blank=True)
    critique = models.TextField(blank=True, db_default="")
    reason = models.TextField(blank=True, db_default="", help_text="An LLM judge's reason.")
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["node", "source"],
                condition=models.Q(is_current=True),
                name="grade_one_current_per_node_and_source",
            ),
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__in=[-1, 0, 1]),
                name="grade_rating_ternary",
            ),
            models.CheckConstraint(
                condition=models.Q(rating__isnull=False) | models.Q(score__isnull=False),
                name="grade_has_value",
            ),
        ]
        indexes = [
            models.Index(fields=["trace", "source"]),
            # One source's grades in id order: an annotator's own grades, a page at a time,
            # in a project of millions of others' (annotation/workspace/disclosure.py).
            models.Index(fields=["source", "id"], name="grade_source_id"),
        ]

    def __str__(self) -> str:
        return f"{self.rating if self.rating is not None else self.score} by {self.source_id}"


class GradeTally(models.Model):
    """Counts of one source's current grades in one project, and how many grade rows of the
    pair were ever written: what pages and analyses would otherwise count over a whole project.

    Kept by statement triggers on the grade table (migration 0004): every write path (the
    services' ORM and fixed statements, the importer's COPY, cascading deletes) changes grades
    through the database, and the database adds each statement's rows to the tallies in the
    same transaction, so no path can forget them. `writes` only grows: the data version an
    analysis records (annotation/grading/selectors.py `data_version`)."""

    project = models.ForeignKey(
        "core.Project", on_delete=models.CASCADE, related_name="grade_tallies"
    )
    source = models.ForeignKey(GradeSource, on_delete=models.CASCADE, related_name="tallies")
    current = models.BigIntegerField(default=0)
    good = models.BigIntegerField(default=0, help_text="Current grades rated +1.")
    neutral = models.BigIntegerField(default=0, help_text="Current grades rated 0.")
    bad = models.BigIntegerField(default=0, help_text="Current grades rated -1.")
    scored = models.BigIntegerField(default=0, help_text="Current grades with a score.")
    writes = models.BigIntegerField(default=0, help_text="Grade rows inserted, changed, deleted.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "source"], name="gradetally_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.source_id} in {self.project_id}: {self.current} current"
