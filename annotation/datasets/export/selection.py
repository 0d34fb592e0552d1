"""What an export reads: traces in keyset chunks, the grades that label their steps, the split.

Traces come ordered by (problem, id) in chunks of `chunk_size`, each read by short
statements in autocommit (no transaction is held for the whole export; on PostgreSQL one
statement per chunk), so a problem's traces are consecutive: DPO pairs and duplicate removal
then need only the current problem in memory.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import reduce
from itertools import groupby
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Q, QuerySet

from algorithms.prompts import render_prompt
from annotation.core.models import Project, Role
from annotation.datasets.export.errors import ExportOptionError
from annotation.datasets.export.formats import STEP_LABEL_FORMATS
from annotation.datasets.export.prefetch import reads_ahead
from annotation.grading.eligibility import attach_eligibility
from annotation.grading.models import GradeSource, SourceKind
from annotation.grading.selectors import GradedKey, GradeView, StepKey, grades_given_in_trace
from annotation.grading.step_grades import GradeChoice
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import (
    AggregatedRows,
    GradeLoader,
    TraceView,
    aggregated_trace_rows,
    load_trace_views,
)
from annotation.problems.tree import text_digest
from annotation.workspace.exports import attach_labeling
from annotation.workspace.review_filter import graders_passing, grades_passing, traces_passing

if TYPE_CHECKING:  # the options check themselves against the formats, which read this module
    from annotation.datasets.export.options import ExportOptions

GradersPassing = Callable[[set[tuple[int, int]]], set[tuple[int, int]]]
KIND_FILTERS: dict[str, Q] = {
    "shortcut": Q(metadata__kind="shortcut"),
    "draft": Q(metadata__kind="draft"),
    "rewrite": Q(metadata__kind="rewrite"),
    # An expansion job expands a record (its source trace) or rationalizes a known answer.
    "expansion": Q(origin=Origin.EXPANSION, source_trace__isnull=False),
    "rationalization": Q(origin=Origin.EXPANSION, source_trace__isnull=True),
    "proposal_critique": Q(origin=Origin.LONG_THOUGHT, metadata__kind="proposal_critique"),
    "policy_critic": Q(origin=Origin.LONG_THOUGHT, metadata__kind="policy_critic"),
}


def scoped_traces(
    project: Project, options: ExportOptions, origins: tuple[str, ...] | None = None
) -> QuerySet[Trace]:
    """The project's traces of `origins` (default: the options' origins), narrowed by the
    options' jobs, tree round, kinds and review filter."""
    traces = Trace.objects.filter(problem__project=project)
    origins = options.resolved_origins if origins is None else origins
    if origins is not None:
        traces = traces.filter(origin__in=origins)
    if options.jobs:
        traces = traces.filter(job_id__in=options.jobs)
    if options.tree_round is not None:
        traces = traces.filter(metadata__tree_job=options.tree_round)
    if options.kinds:
        traces = traces.filter(reduce(operator.or_, (KIND_FILTERS[k] for k in options.kinds)))
    return traces_passing(traces, options.review)


def iter_trace_views(
    project: Project,
    options: ExportOptions,
    *,
    chunk_size: int = 1000,
    origins: tuple[str, ...] | None = None,
) -> Iterator[list[TraceView]]:
    """Chunks of trace views of the project, ordered by (problem, trace id), each with the
    prompt its model saw (`prompt_texts`). On PostgreSQL a chunk is one statement that
    aggregates the steps, texts and grades of its traces (aggregated_trace_rows), read while
    the chunk before is written (prefetch.py); elsewhere three queries and a join in Python
    (load_trace_views).

    For the step-label formats, work the review filter leaves out is read too and marked
    (view.eligibility, with gold items and failed screeners), so that the formats leave it
    out with its reason; the other formats never see it."""
    marks = options.format in STEP_LABEL_FORMATS
    graders_review = "all" if marks else options.review
    traces = scoped_traces(project, _scope(options), origins).order_by("problem_id", "pk")
    chunks = (
        _aggregated_chunks(traces, project, options, chunk_size, graders_review)
        if connection.vendor == "postgresql"
        else _loaded_chunks(traces, grade_loader(project, options, graders_review), chunk_size)
    )
    prompts = PromptTexts()
    for views in chunks:
        for view in views:
            view.prompt = prompts.of(view.trace)
        attach_labeling(views)  # an annotator's finish reason and time, for PRM800K's rows
        if marks:
            attach_eligibility(views, options.review)
        yield views


def _scope(options: ExportOptions) -> ExportOptions:
    """The options whose review filter narrows the traces read: every trace for the
    step-label formats (they mark what the filter leaves out)."""
    return replace(options, review="all") if options.format in STEP_LABEL_FORMATS else options


def _after(traces: QuerySet[Trace], last: tuple[int, int] | None) -> QuerySet[Trace]:
    """The keyset page after (problem id, trace id) `last`."""
    if last is None:
        return traces
    problem_id, trace_id = last
    # the first condition alone is what an index on problem_id can seek to
    return traces.filter(problem_id__gte=problem_id).filter(
        Q(problem_id__gt=problem_id) | Q(problem_id=problem_id, pk__gt=trace_id)
    )


def _loaded_chunks(
    traces: QuerySet[Trace], loader: GradeLoader, chunk_size: int
) -> Iterator[list[TraceView]]:
    last: tuple[int, int] | None = None
    while chunk := list(
        _after(traces, last).select_related("problem", "source_trace")[:chunk_size]
    ):
        yield load_trace_views(chunk, loader)
        last = (chunk[-1].problem_id, chunk[-1].pk)


def _aggregated_chunks(
    traces: QuerySet[Trace],
    project: Project,
    options: ExportOptions,
    chunk_size: int,
    graders_review: str,
) -> Iterator[list[TraceView]]:
    choice = grade_choice(project, options)
    decode = choice.decoder()
    passing = graders_passing(graders_review)
    for chunk in aggregated_chunk_rows(traces, choice, chunk_size):
        views = chunk.views(decode)
        yield _passing_graders(views, passing) if choice.combine == "by_source" else views


def aggregated_chunk_rows(
    traces: QuerySet[Trace], choice: GradeChoice, chunk_size: int = 1000
) -> Iterator[AggregatedRows]:
    """The chunk statements' results (PostgreSQL), each chunk read while the one before is
    used (prefetch.py). bench/export_speed.py times them alone: the database's share."""

    def read(last: tuple[int, int] | None) -> AggregatedRows:
        return aggregated_trace_rows(_after(traces, last)[:chunk_size], choice)

    with reads_ahead() as submit:
        pending = submit(read, None)
        while (chunk := pending.result()).rows:
            pending = submit(read, chunk.last)
            yield chunk


def _passing_graders(views: list[TraceView], passing: GradersPassing) -> list[TraceView]:
    """The views (one per trace and grader) whose grader's work passes the review filter; a
    trace none of whose graders passes comes once, without grades (as load_trace_views
    shows a trace nobody graded)."""
    kept = passing({(view.trace.pk, view.grader) for view in views if view.grader})
    shown: list[TraceView] = []
    for _, group in groupby(views, key=lambda view: view.trace.pk):
        of_trace = list(group)
        passed = [v for v in of_trace if not v.grader or (v.trace.pk, v.grader) in kept]
        if not passed:
            first = of_trace[0]
            passed = [TraceView(first.trace, [replace(s, grade=None) for s in first.steps])]
        shown.extend(passed)
    return shown


def count_traces(project: Project, options: ExportOptions) -> int:
    return scoped_traces(project, _scope(options)).count()


class PromptTexts:
    """The prompt a trace's model saw, rendered for its problem: a sample job's prompt
    version, or the prompt of the tree job a tree path or long thought comes from. None for
    traces no prompt made (imports, people's work) and for expansions, whose prompt held the
    record or the answer rather than the question to train on. Job rows are read once each."""

    def __init__(self) -> None:
        self.templates: dict[int, str | None] = {}

    def of(self, trace: Trace) -> str | None:
        if trace.origin == Origin.MODEL_SAMPLE:
            job_id = trace.job_id
        elif trace.origin in (Origin.TREE, Origin.LONG_THOUGHT):
            job_id = (trace.metadata or {}).get("tree_job")
        else:
            return None
        if not isinstance(job_id, int):
            return None
        if job_id not in self.templates:
            self.templates[job_id] = _job_prompt(job_id)
        template = self.templates[job_id]
        if template is None:
            return None
        return render_prompt(template, {"problem": trace.problem.text})


def _job_prompt(job_id: int) -> str | None:
    row = Job.objects.filter(pk=job_id).values_list("kind", "params").first()
    if row is None:
        return None
    kind, params = row
    prompt = (params or {}).get("prompt")
    if kind == JobKind.SAMPLE and isinstance(prompt, dict):
        text = prompt.get("text")
        return text if isinstance(text, str) else None
    if kind == JobKind.TREE and isinstance(prompt, str):
        return prompt
    return None


# Grades ---------------------------------------------------------------------------------


def grade_loader(
    project: Project, options: ExportOptions, graders_review: str | None = None
) -> GradeLoader:
    """The grade of each step under options.grades, of people's work that passes the review
    filter (annotation/workspace/review_filter.py; for grades given in the trace,
    `graders_review` if given)."""
    choice = grade_choice(project, options)
    if choice.combine != "by_source":
        return choice.loader()
    passing = graders_passing(graders_review or options.review)

    def load(keys: set[StepKey]) -> dict[GradedKey, GradeView]:
        graded = grades_given_in_trace(keys)
        kept = passing({(t, s) for t, _, s in graded})
        return {key: view for key, view in graded.items() if (key[0], key[2]) in kept}

    return load


def grade_choice(project: Project, options: ExportOptions) -> GradeChoice:
    """The grade of each step under options.grades (see GradeChoice), of people's work that
    passes the review filter; for trace, the review filter is left to the caller
    (graders_passing).

    trace: the current grades given in the trace itself (imported labels, an annotator's
      pass), one row per source that graded in it.
    annotator: the current grades of one annotator on each node, given in any trace.
    majority: the most common current rating of the human sources on each node (a tie
      goes to the lower rating); `agreement` is the share of votes for it.
    reviewed: the same majority, over project members with the reviewer or admin role.
    run: the current grades of the source of one model run (a PRM, judge or MC job).
    monte_carlo: the current Monte-Carlo grades of each node (the latest run's if several).
    """
    review = grades_passing(options.review)
    if options.grades == "trace":
        return GradeChoice("by_source")
    if options.grades == "annotator":
        source = GradeSource.objects.filter(
            kind=SourceKind.HUMAN, user__username=options.annotator
        ).first()
        if source is None:
            raise ExportOptionError(f"annotator: {options.annotator!r} has graded nothing")
        return GradeChoice("latest", Q(source=source) & review)
    if options.grades == "run":
        # a run of this project only (also checked when the export starts)
        source = GradeSource.objects.filter(job_id=options.run or 0, job__project=project).first()
        if source is None:
            raise ExportOptionError(f"run: job {options.run} has no grades")
        return GradeChoice("latest", Q(source=source))
    if options.grades == "monte_carlo":
        return GradeChoice("latest", Q(source__kind=SourceKind.MONTE_CARLO))
    if options.grades == "majority":
        return GradeChoice("majority", Q(source__kind=SourceKind.HUMAN) & review)
    reviewers = project.memberships.filter(role__in=[Role.REVIEWER, Role.ADMIN]).values("user_id")
    return GradeChoice(
        "majority", Q(source__kind=SourceKind.HUMAN, source__user_id__in=reviewers) & review
    )


# Splits ---------------------------------------------------------------------------------


class Splitter:
    """Train/test by problem: a seeded hash of the problem's id, so that every export with the
    same seed and fraction puts a problem on the same side; held-out problems are always test.
    """

    def __init__(self, options: ExportOptions) -> None:
        self.fraction = options.test_fraction
        self.seed = options.seed
        held = set(options.held_out)
        # An entry matches a problem's external id, or its text (by digest).
        self.held_ids = held
        self.held_digests = {text_digest(item) for item in held}

    @property
    def names(self) -> tuple[str, ...]:
        return ("train", "test") if self.fraction > 0 or self.held_ids else ("train",)

    def is_held_out(self, problem: Problem) -> bool:
        return problem.external_id in self.held_ids or problem.text_digest in self.held_digests

    def split_of(self, problem: Problem) -> str:
        if self.is_held_out(problem):
            return "test"
        if self.fraction <= 0:
            return "train"
        digest = hashlib.sha256(f"{self.seed}:{problem.external_id}".encode()).digest()
        return "test" if int.from_bytes(digest[:8], "big") / 2**64 < self.fraction else "train"
