"""The one data structure: a tree of steps per problem, and traces as paths in it."""

from django.conf import settings
from django.db import models

from annotation.core.models import Project


class Problem(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="problems")
    external_id = models.CharField(max_length=255, help_text="Id in the source dataset.")
    text = models.TextField()
    # sha256 of the text, so imports of other datasets find the same problem.
    text_digest = models.CharField(max_length=64)
    answer = models.TextField(blank=True, null=True, help_text="Ground-truth final answer.")
    solution = models.TextField(blank=True, null=True, help_text="Ground-truth solution.")
    source = models.CharField(max_length=50, help_text="Dataset or origin, e.g. math, prm800k.")
    subject = models.CharField(max_length=100, blank=True)
    level = models.SmallIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="problem_unique_external_id"
            )
        ]
        indexes = [models.Index(fields=["project", "text_digest"])]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.text[:60]}"


class StepKind(models.TextChoices):
    STEP = "step", "Step"
    ATTEMPT = "attempt", "Attempt"
    REFLECTION = "reflection", "Reflection"
    BACKTRACK = "backtrack", "Backtrack"
    CORRECTION = "correction", "Correction"
    EXPLANATION = "explanation", "Explanation"
    CONCLUSION = "conclusion", "Conclusion"


class StepNode(models.Model):
    """One step in the context of its prefix.

    The id is derived from (problem, parent, kind, text), so two paths that share a prefix
    share its nodes, and writing the same step twice is a no-op (see problems.tree).
    """

    id = models.UUIDField(primary_key=True)
    # Indexed by (problem, depth) below.
    problem = models.ForeignKey(
        Problem, on_delete=models.CASCADE, related_name="nodes", db_index=False
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    depth = models.PositiveSmallIntegerField(help_text="1 for a first step.")
    kind = models.CharField(max_length=20, choices=StepKind.choices, default=StepKind.STEP)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["problem", "depth"])]

    def __str__(self) -> str:
        return self.text[:60]


class Origin(models.TextChoices):
    IMPORTED = "imported", "Imported"
    HUMAN_SOLUTION = "human_solution", "Human solution"
    THOUGHT_RECORD = "thought_record", "Human thought record"
    MODEL_SAMPLE = "model_sample", "Model sample"
    EXPANSION = "expansion", "Expansion"
    TREE = "tree", "Tree path"
    LONG_THOUGHT = "long_thought", "Long thought"
    LABELED = "labeled", "Labeled path"  # an annotator's own path through a trace's steps
    # Samples of an evaluation job: kept apart from model_sample, so no training export or
    # best-of-N set picks up answers drawn on held-out problems.
    EVALUATION = "evaluation", "Evaluation sample"


# What models wrote from problems (the tree pages' outputs): a few traces of a project that
# may hold a million imported ones, so an index of their own (issue 30).
MODEL_OUTPUT_ORIGINS = (Origin.LONG_THOUGHT, Origin.TREE, Origin.MODEL_SAMPLE, Origin.EXPANSION)


class FinishReason(models.TextChoices):
    SOLUTION = "solution", "Solution"
    FOUND_ERROR = "found_error", "Found error"
    BAD_PROBLEM = "bad_problem", "Bad problem"
    GIVE_UP = "give_up", "Give up"


class Trace(models.Model):
    """A path of step nodes from the problem: a solution, a record, a sample."""

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="traces")
    origin = models.CharField(max_length=20, choices=Origin.choices)
    external_id = models.CharField(
        max_length=255, null=True, blank=True, help_text="Key of an imported record."
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="traces",
    )
    job = models.ForeignKey(
        "jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="traces"
    )
    source_trace = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="derived_traces",
        help_text="The record an expansion was made from.",
    )
    final_answer = models.TextField(null=True, blank=True)
    is_correct = models.BooleanField(null=True, blank=True)
    finish_reason = models.CharField(
        max_length=20, choices=FinishReason.choices, null=True, blank=True
    )
    time_spent_ms = models.BigIntegerField(null=True, blank=True)
    # Fields of an imported record that have no column of their own, kept verbatim.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["problem", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="trace_unique_external_id",
            )
        ]
        indexes = [
            models.Index(fields=["problem", "origin"]),
            models.Index(
                fields=["id"],
                condition=models.Q(origin__in=MODEL_OUTPUT_ORIGINS),
                name="trace_model_outputs",
            ),
        ]

    def __str__(self) -> str:
        return f"trace {self.pk} ({self.origin}) of problem {self.problem_id}"


class TraceStep(models.Model):
    """A node shown at a position of a trace.

    The path is the rows with on_path=True. Other rows at a position are the alternatives
    that were offered there (PRM800K's completions), in `option` order.
    """

    # Indexed by the unique (trace, position, option) below.
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="steps", db_index=False)
    position = models.PositiveSmallIntegerField()
    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="trace_steps")
    option = models.SmallIntegerField(
        null=True, blank=True, help_text="Index among the alternatives; null for a written step."
    )
    on_path = models.BooleanField(default=True)
    backtrack_to = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="For a backtrack thought: the position it abandons."
    )
    # Attributes of an imported step with no column of their own (e.g. PRM800K's source).
    extra = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["trace", "position", "option"]
        constraints = [
            models.UniqueConstraint(
                fields=["trace", "position"],
                condition=models.Q(on_path=True),
                name="tracestep_one_path_node_per_position",
            ),
            models.UniqueConstraint(
                fields=["trace", "position", "option"], name="tracestep_unique_option"
            ),
        ]

    def __str__(self) -> str:
        return f"trace {self.trace_id} step {self.position} option {self.option}"


class ProjectSize(models.Model):
    """How many problems and traces a project has, kept by statement triggers on the problem
    and trace tables (migration 0007), so every write path (the services' ORM, the importer's
    COPY, cascading deletes) keeps it and a page reads one row instead of counting a project.
    The SQLite first-run database has no statement triggers and counts (selectors)."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="size"
    )
    problems = models.BigIntegerField(default=0)
    traces = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.project_id}: {self.problems} problems, {self.traces} traces"
