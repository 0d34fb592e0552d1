"""Reads for the LLM pages: configs, prompts, jobs, and a job's outputs beside their sources."""

from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from annotation.core.models import Project
from annotation.grading.models import GradeSource
from annotation.grading.selectors import source_grades
from annotation.jobs.models import Job, JobKind
from annotation.llm.models import ModelConfig, PromptTemplate, PromptVersion
from annotation.problems.models import Problem, Trace
from annotation.problems.selectors import GradeLoader, TraceView, load_trace_views

LLM_JOB_KINDS = (JobKind.SAMPLE, JobKind.EXPAND, JobKind.SCORE)


def model_configs(project: Project) -> QuerySet[ModelConfig]:
    return ModelConfig.objects.filter(project=project)


def prompt_templates(project: Project) -> QuerySet[PromptTemplate]:
    """Templates with their latest version number and text annotated (one query)."""
    latest = PromptVersion.objects.filter(template=OuterRef("pk")).order_by("-number")
    return PromptTemplate.objects.filter(project=project).annotate(
        latest_number=Subquery(latest.values("number")[:1]),
        latest_id=Subquery(latest.values("pk")[:1]),
    )


def latest_version(template: PromptTemplate) -> PromptVersion:
    return template.versions.select_related("template").order_by("-number").first()  # type: ignore[return-value]


def llm_jobs(project: Project) -> QuerySet[Job]:
    return project.jobs.filter(kind__in=LLM_JOB_KINDS).select_related("created_by")


def problems_matching(
    project: Project,
    *,
    source: str = "",
    subject: str = "",
    level: int | None = None,
    with_answer: bool = False,
    limit: int = 100,
) -> list[int]:
    problems = Problem.objects.filter(project=project)
    if source:
        problems = problems.filter(source=source)
    if subject:
        problems = problems.filter(subject=subject)
    if level is not None:
        problems = problems.filter(level=level)
    if with_answer:
        problems = problems.exclude(answer__isnull=True).exclude(answer="")
    return list(problems.order_by("id").values_list("id", flat=True)[:limit])


def traces_matching(
    project: Project, *, origin: str = "", job_id: int | None = None, limit: int = 100
) -> list[int]:
    traces = Trace.objects.filter(problem__project=project)
    if origin:
        traces = traces.filter(origin=origin)
    if job_id is not None:
        traces = traces.filter(job_id=job_id)
    return list(traces.order_by("id").values_list("id", flat=True)[:limit])


@dataclass
class Output:
    view: TraceView
    source: TraceView | None

    @property
    def metadata(self) -> dict[str, Any]:
        return self.view.trace.metadata


def job_grades(job: Job) -> GradeLoader:
    """The job's own grades (its run's scores), and no other source's."""
    return source_grades(GradeSource.objects.filter(job=job).first())


def job_outputs(job: Job, *, limit: int = 50) -> list[Output]:
    """The job's first traces, with the job's scores, beside the records they came from (a
    fixed number of queries); only what belongs to the job's project is shown."""
    traces = list(
        Trace.objects.filter(job=job, problem__project=job.project_id)
        .select_related("problem")
        .order_by("id")[:limit]
    )
    views = load_trace_views(traces, job_grades(job))
    source_ids = {t.source_trace_id for t in traces if t.source_trace_id}
    in_project = Trace.objects.filter(pk__in=source_ids, problem__project=job.project_id)
    sources = {v.trace.pk: v for v in load_trace_views(list(in_project.order_by("id")))}
    return [Output(view=v, source=sources.get(v.trace.source_trace_id or 0)) for v in views]


def scored_traces(job: Job, *, limit: int = 50) -> list[TraceView]:
    """For a scoring job: the scored traces (of the job's project) with the job's scores."""
    ids = job.params.get("trace_ids", [])[:limit]
    traces = list(
        Trace.objects.filter(pk__in=ids, problem__project=job.project_id)
        .select_related("problem")
        .order_by("id")
    )
    return load_trace_views(traces, job_grades(job))
