"""Reads for trees, long thoughts, filters, round comparison and output statistics."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from algorithms import tree_search
from annotation.core.models import Project
from annotation.grading.models import SourceKind
from annotation.grading.selectors import current_grades
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import MODEL_OUTPUT_ORIGINS, Origin, Problem, Trace
from annotation.problems.selectors import path, path_mentions, trace_texts
from annotation.trees.models import SteeredLoop, TreeNode

DEFAULT_KEYWORDS = (
    "wait",
    "alternatively",
    "therefore",
    "let me compute",
    "consider",
    "if",
    "possible",
)
OUTPUT_ORIGINS = MODEL_OUTPUT_ORIGINS  # indexed: the outputs read none of the imported traces
# Jobs in which the model steers its own long thought; each is also the metadata `kind` of
# its long thoughts.
STEERED_KINDS: tuple[str, ...] = (JobKind.PROPOSAL_CRITIQUE.value, JobKind.POLICY_CRITIC.value)
# Jobs whose TreeNode rows are trees (rounds the tree view shows).
TREE_KINDS: tuple[str, ...] = (JobKind.TREE.value, *STEERED_KINDS)
# How a long thought was made: the four ways of the O1-Journey report.
METHODS: dict[str, str] = {
    "tree": "tree search",
    JobKind.PROPOSAL_CRITIQUE.value: "proposal-critique",
    JobKind.POLICY_CRITIC.value: "policy-critic",
    "expansion": "expanded record",
}
METHOD_FILTERS: dict[str, Q] = {
    # a steered loop's long thought and shortcut name their method in metadata
    "tree": (
        Q(origin=Origin.TREE)
        | Q(origin=Origin.LONG_THOUGHT, metadata__kind__in=["draft", "rewrite"])
    )
    & ~Q(metadata__has_key="method"),
    **{kind: Q(metadata__method=kind) for kind in STEERED_KINDS},
    "expansion": Q(origin=Origin.EXPANSION),
}


def method_of(trace: Trace) -> str | None:
    """The method (a key of METHODS) that made a tree path, long thought or expansion; None
    for other traces (samples, imports, people's work)."""
    method = (trace.metadata or {}).get("method")
    if method in STEERED_KINDS:
        return str(method)
    if trace.origin == Origin.EXPANSION:
        return "expansion"
    return "tree" if trace.origin in (Origin.TREE, Origin.LONG_THOUGHT) else None


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


def load_tree(job_id: int, problem: Problem) -> tree_search.Tree:
    """The algorithm's tree, rebuilt from the rows (ids are the stored indexes)."""
    rows = (
        TreeNode.objects.filter(job_id=job_id, problem=problem)
        .order_by("index")
        .values_list(
            "index",
            "parent_index",
            "depth",
            "node__text",
            "score",
            "judged_correct",
            "reason",
            "pruned",
            "final_answer",
            "is_correct",
            "copies",
            "wrong_source",
            "wrong_value",
        )
    )
    nodes: list[tree_search.TreeNode] = []
    for (
        index,
        parent,
        depth,
        text,
        score,
        judged,
        reason,
        pruned,
        answer,
        correct,
        copies,
        wrong_source,
        wrong_value,
    ) in rows:
        if index != len(nodes):
            raise ValueError(f"tree of problem {problem.pk} in job {job_id} misses node {index}")
        nodes.append(
            tree_search.TreeNode(
                id=index,
                parent=parent,
                depth=depth,
                text=problem.text if text is None else text,
                score=score,
                judged_correct=judged,
                reason=reason or None,
                pruned=pruned,
                final_answer=answer,
                is_correct=correct,
                copies=copies,
                wrong=_verdict(wrong_source, wrong_value),
            )
        )
    if not nodes:
        raise ValueError(f"job {job_id} has no tree of problem {problem.pk}")
    spec = tree_search.ProblemSpec(key=str(problem.pk), text=problem.text)
    return tree_search.Tree(problem=spec, nodes=nodes)


def _verdict(source: str, value: float | None) -> tree_search.Verdict | None:
    """A stored wrong verdict back as the algorithm's (empty source: none)."""
    if not source:
        return None
    if source not in tree_search.VERDICT_SOURCES:
        raise ValueError(f"unknown wrong verdict source {source!r}")
    return tree_search.Verdict(cast(tree_search.VerdictSource, source), value)


def tree_payload(job: Job, problem: Problem) -> dict[str, Any]:
    """Everything the tree view draws, as compact columns (one query, no per-node objects).

    ``nodes`` rows: [index, parent index, depth, kind (step, reflection, backtrack,
    conclusion; null for the root), score, judged correct, pruned, leaf, final answer,
    correct, on a correct path, text]."""
    rows = list(
        TreeNode.objects.filter(job=job, problem=problem)
        .order_by("index")
        .values_list(
            "index",
            "parent_index",
            "depth",
            "node__kind",
            "score",
            "judged_correct",
            "pruned",
            "is_leaf",
            "final_answer",
            "is_correct",
            "on_correct_path",
            "node__text",
        )
    )
    nodes = [[*row[:-1], row[-1] if row[-1] is not None else problem.text] for row in rows]
    return {
        "job": job.pk,
        "problem": {"id": problem.pk, "external_id": problem.external_id, "text": problem.text},
        "columns": [
            "index",
            "parent",
            "depth",
            "kind",
            "score",
            "judged_correct",
            "pruned",
            "leaf",
            "final_answer",
            "correct",
            "on_path",
            "text",
        ],
        "nodes": nodes,
    }


def node_detail(job: Job, problem: Problem, index: int) -> dict[str, Any] | None:
    """One node with its judge reason and every grade of the step (people's and machines')."""
    row = (
        TreeNode.objects.filter(job=job, problem=problem, index=index)
        .select_related("node")
        .first()
    )
    if row is None:
        return None
    grades = []
    if row.node_id is not None:
        grades = [
            {
                "source": name,
                "kind": kind,
                "rating": rating,
                "score": score,
                "unsure": unsure,
                "critique": critique,
                "reason": reason,
            }
            for name, kind, rating, score, unsure, critique, reason in current_grades()
            .filter(node_id=row.node_id)
            .order_by("source__kind", "source__name")
            .values_list(
                "source__name",
                "source__kind",
                "rating",
                "score",
                "unsure",
                "critique",
                "reason",
            )
        ]
    return {
        "index": row.index,
        "parent": row.parent_index,
        "depth": row.depth,
        "kind": row.node.kind if row.node is not None else None,
        "text": row.node.text if row.node is not None else problem.text,
        "score": row.score,
        "judged_correct": row.judged_correct,
        "reason": row.reason,
        "pruned": row.pruned,
        "leaf": row.is_leaf,
        "final_answer": row.final_answer,
        "correct": row.is_correct,
        "on_path": row.on_correct_path,
        "copies": row.copies,
        "wrong_verdict": (
            {"source": row.wrong_source, "value": row.wrong_value} if row.wrong_source else None
        ),
        "human_grades": [g for g in grades if g["kind"] == SourceKind.HUMAN],
        "machine_grades": [g for g in grades if g["kind"] != SourceKind.HUMAN],
    }


# Problems of a round ---------------------------------------------------------------------------


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


# Outputs: long thoughts and other traces -----------------------------------------------------


@dataclass
class OutputRow:
    trace: Trace
    text: str
    kind: str

    @property
    def method(self) -> str | None:
        return method_of(self.trace)

    @property
    def method_label(self) -> str:
        method = self.method
        return METHODS[method] if method is not None else "—"


@dataclass(frozen=True)
class OutputFilter(ProblemFilter):
    job_id: int | None = None
    origin: str = ""
    method: str = ""  # a key of METHODS


def outputs(project: Project, flt: OutputFilter, *, limit: int = 100) -> list[OutputRow]:
    """Model outputs (long thoughts, shortcuts, samples, expansions) with their text, filtered by
    job (round), origin, method, correctness, a keyword in the text, subject and level."""
    rows = list(output_traces(project, flt).select_related("problem").order_by("id")[:limit])
    texts = trace_texts([t.pk for t in rows])
    return [OutputRow(t, texts.get(t.pk, ""), t.metadata.get("kind", t.origin)) for t in rows]


def output_traces(project: Project, flt: OutputFilter) -> QuerySet[Trace]:
    traces = Trace.objects.filter(problem__project=project, origin__in=OUTPUT_ORIGINS)
    if flt.job_id is not None:
        traces = traces.filter(job_id=flt.job_id)
    if flt.origin:
        traces = traces.filter(origin=flt.origin)
    if flt.method in METHOD_FILTERS:
        traces = traces.filter(METHOD_FILTERS[flt.method])
    if flt.correct is not None:
        traces = traces.filter(is_correct=flt.correct)
    if flt.subject:
        traces = traces.filter(problem__subject=flt.subject)
    if flt.level is not None:
        traces = traces.filter(problem__level=flt.level)
    if flt.keyword:
        traces = traces.filter(path_mentions(flt.keyword))
    return traces


@dataclass
class ThoughtStep:
    position: int
    kind: str
    text: str
    tree_index: int | None


@dataclass
class ThoughtView:
    trace: Trace
    steps: list[ThoughtStep] = field(default_factory=list)
    tree_job_id: int | None = None
    related: dict[str, int] = field(default_factory=dict)  # kind -> trace id
    method: str | None = None
    # a steered loop's transcript: (role, outcome, text) per turn
    transcript: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def method_label(self) -> str:
        return METHODS[self.method] if self.method is not None else "—"


def long_thought_view(trace: Trace) -> ThoughtView:
    """A long thought (or shortcut) with each step's tree node index, its sibling traces
    (shortcut, draft, rewrite) of the same job and problem, its method and, for a loop the
    model steered, the loop's transcript."""
    rows = [(step.position, step.kind, step.text) for step in path(trace.pk)]
    meta = trace.metadata or {}
    kind = meta.get("kind")
    indexes: list[int | None]
    if kind == "draft" or kind in STEERED_KINDS:
        indexes = list(meta.get("tree_nodes", []))
    elif kind == "shortcut":
        indexes = list(meta.get("walked", []))
    else:
        indexes = []
    indexes += [None] * (len(rows) - len(indexes))
    view = ThoughtView(
        trace=trace,
        steps=[
            ThoughtStep(position, kind_, text, indexes[i])
            for i, (position, kind_, text) in enumerate(rows)
        ],
        tree_job_id=meta.get("tree_job"),
        method=method_of(trace),
    )
    if view.method in STEERED_KINDS and trace.job_id is not None:
        turns = (
            SteeredLoop.objects.filter(job_id=trace.job_id, problem_id=trace.problem_id)
            .values_list("turns", flat=True)
            .first()
        )
        view.transcript = [
            (str(t.get("role", "")), str(t.get("outcome", "")), str(t.get("text", "")))
            for t in turns or []
            if isinstance(t, dict)
        ]
    if trace.job_id is not None and trace.external_id:
        base = trace.external_id.rsplit(":", 1)[0]
        for tid, key in Trace.objects.filter(
            job_id=trace.job_id, external_id__startswith=f"{base}:"
        ).values_list("pk", "external_id"):
            view.related[(key or "").rsplit(":", 1)[1]] = tid
    return view


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive; longer phrases first so "let me compute" wins over "if"."""
    words = sorted({k.strip().lower() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def parse_keywords(raw: str | None) -> list[str]:
    if not raw:
        return list(DEFAULT_KEYWORDS)
    return [k.strip() for k in raw.split(",") if k.strip()]


# Methods side by side, and their actions ---------------------------------------------------------


@dataclass(frozen=True)
class Actions:
    """The reflections and backtracks a long thought made (its method's own count)."""

    reflections: int
    backtracks: int
    wrong_answers: int | None = None  # known for the loops the model steered


def actions_of(trace: Trace) -> Actions | None:
    """What a long thought records of its actions: a steered loop its counts; a tree-derived
    draft (or its rewrite) one reflection and one way back per dead end; None otherwise (a
    shortcut, an expansion)."""
    meta = trace.metadata or {}
    counts = meta.get("counts")
    if trace.origin != Origin.LONG_THOUGHT:
        return None
    if meta.get("method") in STEERED_KINDS and isinstance(counts, dict):
        return Actions(
            int(counts.get("reflections", 0)),
            int(counts.get("backtracks", 0)),
            int(counts.get("wrong_answers", 0)),
        )
    wrong_leaves = meta.get("wrong_leaves")
    if isinstance(wrong_leaves, int):
        return Actions(wrong_leaves, wrong_leaves)
    return None


LONG_THOUGHT_ORIGINS = (Origin.LONG_THOUGHT, Origin.EXPANSION)


def problem_long_thoughts(problem: Problem) -> list[Trace]:
    """Every long thought of a problem, whatever its method, oldest first."""
    return list(
        Trace.objects.filter(problem=problem, origin__in=LONG_THOUGHT_ORIGINS)
        .select_related("job")
        .order_by("id")
    )


def thought_label(trace: Trace) -> str:
    """How a long thought is named in a list of one problem's: method, kind, id, job."""
    method = method_of(trace)
    name = METHODS[method] if method is not None else trace.get_origin_display()
    kind = (trace.metadata or {}).get("kind")
    detail = f" · {kind}" if method == "tree" and kind else ""
    job = f" (job #{trace.job_id})" if trace.job_id is not None else ""
    return f"{name}{detail} #{trace.pk}{job}"


def default_pair(thoughts: Sequence[Trace]) -> tuple[Trace | None, Trace | None]:
    """Two long thoughts to put side by side when none are chosen: the first of the first two
    methods (two of the same method when there is only one)."""
    firsts: dict[str | None, Trace] = {}
    for trace in thoughts:
        firsts.setdefault(method_of(trace), trace)
    chosen = list(firsts.values())[:2]
    if len(chosen) < 2:
        chosen = list(thoughts[:2])
    return (chosen[0] if chosen else None, chosen[1] if len(chosen) > 1 else None)


@dataclass
class MethodStats:
    """Long thoughts of one method (and kind) and the actions they record."""

    method: str
    kind: str
    outputs: int = 0
    counted: int = 0  # outputs that record their actions
    reflections: int = 0
    backtracks: int = 0
    correct: int = 0

    @property
    def label(self) -> str:
        name = METHODS.get(self.method, self.method)
        return f"{name} · {self.kind}" if self.method == "tree" else name

    @property
    def mean_reflections(self) -> float | None:
        return self.reflections / self.counted if self.counted else None

    @property
    def mean_backtracks(self) -> float | None:
        return self.backtracks / self.counted if self.counted else None


def method_stats(project: Project, flt: OutputFilter, *, limit: int = 5000) -> list[MethodStats]:
    """Per method, the long thoughts among the filtered outputs and their reflections and
    backtracks (a tree's drafts and rewrites apart: a rewrite keeps its draft's walk)."""
    rows = (
        output_traces(project, flt)
        .filter(origin__in=LONG_THOUGHT_ORIGINS)
        .only("origin", "metadata", "is_correct")
        .order_by("id")[:limit]
    )
    by_key: dict[tuple[str, str], MethodStats] = {}
    for trace in rows:
        method = method_of(trace) or ""
        kind = str((trace.metadata or {}).get("kind", "")) if method == "tree" else ""
        stats = by_key.setdefault((method, kind), MethodStats(method, kind))
        stats.outputs += 1
        stats.correct += trace.is_correct is True
        if (actions := actions_of(trace)) is not None:
            stats.counted += 1
            stats.reflections += actions.reflections
            stats.backtracks += actions.backtracks
    order = {method: rank for rank, method in enumerate(METHODS)}
    return [by_key[k] for k in sorted(by_key, key=lambda k: (order.get(k[0], len(order)), k))]


# Comparing rounds ------------------------------------------------------------------------------


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


# Statistics of outputs (the O1-Journey analysis of o1's outputs) -------------------------------


@dataclass
class LevelStats:
    level: int | None
    outputs: int = 0
    tokens: int = 0
    lines: int = 0
    keywords: Counter[str] = field(default_factory=Counter)

    @property
    def mean_tokens(self) -> float:
        return self.tokens / self.outputs if self.outputs else 0.0

    @property
    def mean_lines(self) -> float:
        return self.lines / self.outputs if self.outputs else 0.0

    def keyword_rate(self, keyword: str) -> float:
        """Mean occurrences per output."""
        return self.keywords[keyword] / self.outputs if self.outputs else 0.0


def count_tokens(text: str) -> int:
    """Whitespace tokens: the same count whatever model wrote the text."""
    return len(text.split())


def count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def output_stats(
    project: Project, flt: OutputFilter, keywords: Sequence[str], *, limit: int = 5000
) -> list[LevelStats]:
    """Token and line counts and keyword frequencies of outputs, by problem level."""
    pattern = keyword_pattern(keywords)
    by_level: dict[int | None, LevelStats] = {}
    for row in outputs(project, flt, limit=limit):
        level = row.trace.problem.level
        stats = by_level.setdefault(level, LevelStats(level))
        stats.outputs += 1
        tokens = row.trace.metadata.get("tokens")
        stats.tokens += int(tokens) if isinstance(tokens, int) else count_tokens(row.text)
        stats.lines += count_lines(row.text)
        if pattern is not None:
            stats.keywords.update(m.group(1).lower() for m in pattern.finditer(row.text))
    return [by_level[k] for k in sorted(by_level, key=lambda v: (v is None, v or 0))]
