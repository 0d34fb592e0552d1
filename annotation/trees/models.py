"""Reasoning trees as rows: one TreeNode per node of one job's tree of one problem.

A tree job is a "round": the same problems built again by another job (another model version,
other parameters) are another round, compared side by side. Step texts live in the shared,
content-addressed StepNodes; a TreeNode adds what this job learned about the node. ``index`` is
the node's id in the algorithm's tree (creation order, root 0), so a tree read back from the
database walks exactly like the one that was built.
"""

from django.db import models

from annotation.jobs.models import Job
from annotation.problems.models import Problem, StepNode


class TreeNode(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="tree_nodes")
    problem = models.ForeignKey(
        Problem, on_delete=models.CASCADE, related_name="tree_nodes", db_index=False
    )
    index = models.PositiveIntegerField(help_text="Id in the built tree; 0 is the root.")
    parent_index = models.PositiveIntegerField(null=True, blank=True)
    node = models.ForeignKey(
        StepNode,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tree_nodes",
        help_text="The step; null for the root (the problem itself).",
    )
    depth = models.PositiveSmallIntegerField()
    score = models.FloatField(null=True, blank=True)
    judged_correct = models.BooleanField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    pruned = models.BooleanField(default=False)
    is_leaf = models.BooleanField(default=False)
    final_answer = models.TextField(null=True, blank=True)
    is_correct = models.BooleanField(null=True, blank=True)
    on_correct_path = models.BooleanField(default=False)
    copies = models.PositiveIntegerField(
        default=1, help_text="Identical candidate steps under the parent merged into this node."
    )
    # The recorded evidence that the node is wrong (algorithms.tree_search.Verdict): only such a
    # node ends a detour of a long thought with a reflection; pruned alone is not wrong.
    wrong_source = models.CharField(
        max_length=10,
        blank=True,
        default="",
        help_text="Who called the node wrong: answer, judge, prm, critic or limit; empty: nobody.",
    )
    wrong_value = models.FloatField(
        null=True, blank=True, help_text="The wrong verdict's number (a score; 0 for an answer)."
    )

    class Meta:
        ordering = ["job", "problem", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "problem", "index"], name="treenode_unique_index"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(index=0, node__isnull=True, parent_index__isnull=True, depth=0)
                    | models.Q(index__gt=0, node__isnull=False, parent_index__isnull=False)
                ),
                name="treenode_root_has_no_step",
            ),
        ]
        indexes = [models.Index(fields=["job", "node"])]

    def __str__(self) -> str:
        return f"node {self.index} of problem {self.problem_id} in job {self.job_id}"


class SteeredLoop(models.Model):
    """One problem's loop in a proposal-critique or policy-critic job: the transcript
    (``algorithms.steering.Turn`` values in order), saved after every turn so that a shard run
    again (after a crash) resumes where the loop stopped; ``stop`` says why it ended ("" while
    it runs), ``counts`` its actions. Its tree is the job's TreeNode rows of the problem and its
    long thought a trace of the job (annotation/trees/steered.py)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steered_loops")
    problem = models.ForeignKey(
        Problem, on_delete=models.CASCADE, related_name="steered_loops", db_index=False
    )
    turns = models.JSONField(default=list)
    stop = models.CharField(max_length=20, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "problem"]
        constraints = [
            models.UniqueConstraint(fields=["job", "problem"], name="steeredloop_unique_problem")
        ]

    def __str__(self) -> str:
        return f"loop of problem {self.problem_id} in job {self.job_id}"
