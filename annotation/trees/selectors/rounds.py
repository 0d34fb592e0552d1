"""Rounds (tree jobs) and long-thought jobs, the problems of a round and rounds compared."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import Problem
from annotation.trees.models import TreeNode
from annotation.trees.selectors.methods import METHODS, STEERED_KINDS


def tree_jobs(project: Project) -> QuerySet[Job]:
    """The project's rounds, each with its node and correct-leaf counts from its rows (a
    round recorded by hand or still running has them too, unlike its result)."""
    return (
        project.jobs.filter(kind=JobKind.TREE)
        .select_related("created_by")
        .annotate(
            node_count=Count("tree_nodes"),
            correct_leaf_count=Count("tree_nodes", filter=Q(tree_nodes__is_correct=True)),
        )
    )


@dataclass(frozen=True)
class ThoughtJobRow:
    job: Job

    @property
    def method(self) -> str:
        return "tree" if self.job.kind == JobKind.LONG_THOUGHT else self.job.kind

    @property
    def method_label(self) -> str:
        return METHODS[self.method]


def thought_job_rows(project: Project, *, limit: int = 100) -> list[ThoughtJobRow]:
    """Jobs that write long thoughts, newest first: from a round's trees, or steered by the
    model itself; each with its method."""
    kinds = [JobKind.LONG_THOUGHT, *STEERED_KINDS]
    jobs = project.jobs.filter(kind__in=kinds).select_related("created_by")[:limit]
    return [ThoughtJobRow(job) for job in jobs]


@dataclass
class TreeSummary:
    problem: Problem
    nodes: int = 0
    leaves: int = 0
    correct_leaves: int = 0
    max_depth: int = 0


def tree_summaries(job: Job, problems: Sequence[Problem]) -> dict[int, TreeSummary]:
    """Node, leaf and correct-leaf counts and depth of each problem's tree (one query)."""
    rows = (
        TreeNode.objects.filter(job=job, problem__in=problems)
        .values("problem_id")
        .annotate(
            nodes=Count("id"),
            leaves=Count("id", filter=Q(is_leaf=True)),
            correct=Count("id", filter=Q(is_correct=True)),
            deepest=Max("depth"),
        )
    )
    by_id = {p.pk: p for p in problems}
    return {
        r["problem_id"]: TreeSummary(
            by_id[r["problem_id"]], r["nodes"], r["leaves"], r["correct"], r["deepest"]
        )
        for r in rows
    }


@dataclass(frozen=True)
class ProblemFilter:
    subject: str = ""
    level: int | None = None
    correct: bool | None = None  # a correct leaf (trees) / a correct output (outputs)
    keyword: str = ""


def round_problems(job: Job, flt: ProblemFilter, *, limit: int = 200) -> list[Problem]:
    """Problems with a tree in the round, filtered by subject, level, whether the tree has a
    correct leaf, and a keyword in any of its steps."""
    problems = Problem.objects.filter(
        Exists(TreeNode.objects.filter(job=job, problem=OuterRef("pk"), index=0))
    )
    if flt.subject:
        problems = problems.filter(subject=flt.subject)
    if flt.level is not None:
        problems = problems.filter(level=flt.level)
    if flt.correct is not None:
        has_correct = Exists(
            TreeNode.objects.filter(job=job, problem=OuterRef("pk"), is_correct=True)
        )
        problems = problems.filter(has_correct if flt.correct else ~has_correct)
    if flt.keyword:
        problems = problems.filter(
            Exists(
                TreeNode.objects.filter(
                    job=job, problem=OuterRef("pk"), node__text__icontains=flt.keyword
                )
            )
        )
    return list(problems.order_by("id")[:limit])


@dataclass
class RoundCell:
    nodes: int = 0
    leaves: int = 0
    correct_leaves: int = 0
    max_depth: int = 0


@dataclass
class ComparisonRow:
    problem: Problem
    cells: list[RoundCell | None]


def compare_rounds(
    jobs: Sequence[Job], flt: ProblemFilter, *, limit: int = 200
) -> list[ComparisonRow]:
    """The problems every round has a tree for, with each round's tree summary side by side."""
    if not jobs:
        return []
    common: set[int] | None = None
    for job in jobs:
        ids = {p.pk for p in round_problems(job, flt, limit=100_000)}
        common = ids if common is None else common & ids
    problems = list(Problem.objects.filter(pk__in=common or set()).order_by("id")[:limit])
    summaries = [tree_summaries(job, problems) for job in jobs]
    rows = []
    for problem in problems:
        cells: list[RoundCell | None] = []
        for by_problem in summaries:
            s = by_problem.get(problem.pk)
            cells.append(RoundCell(s.nodes, s.leaves, s.correct_leaves, s.max_depth) if s else None)
        rows.append(ComparisonRow(problem, cells))
    return rows
