"""Model outputs (long thoughts, shortcuts, samples, expansions), filtered."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from annotation.core.models import Project
from annotation.problems.models import MODEL_OUTPUT_ORIGINS, Trace
from annotation.problems.selectors import path_mentions, trace_texts
from annotation.trees.selectors.methods import METHOD_FILTERS, METHODS, method_of
from annotation.trees.selectors.rounds import ProblemFilter

OUTPUT_ORIGINS = MODEL_OUTPUT_ORIGINS  # indexed: the outputs read none of the imported traces


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
