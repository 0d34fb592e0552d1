"""The project boundary of a job: everything it names belongs to its project.

`check_job_inputs` reads the fields a parameters class declares with `owns(...)` (problem and
trace ids, model configs, prompt versions, other jobs) and refuses, naming the field, any id
that is not a row of the job's project. `job_create` calls it for every job started, from the
API, the pages or the shell; the task calls it again on the stored parameters before a runner
starts, and runners load their items through `in_project`, so a job row whose parameters were
written to name another project's rows reads and writes none of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from annotation.core.models import Project
from annotation.jobs.models import Job
from annotation.jobs.params import (
    JOB,
    MODEL_CONFIG,
    OWNER,
    PROBLEM,
    PROMPT_VERSION,
    TRACE,
    JobParams,
    ModelSnapshot,
    PromptSnapshot,
)
from annotation.jobs.typed_json import ParamsError
from annotation.llm.models import ModelConfig, PromptVersion
from annotation.problems.models import Problem, Trace

M = TypeVar("M", bound=Model)
BATCH = 10_000  # ids per query: a job may name up to 100,000 items


@dataclass(frozen=True)
class Owned:
    model: type[Model]
    project_id: str  # the lookup from a row to its project's id
    noun: str


OWNED: dict[str, Owned] = {
    PROBLEM: Owned(Problem, "project_id", "problem"),
    TRACE: Owned(Trace, "problem__project_id", "trace"),
    MODEL_CONFIG: Owned(ModelConfig, "project_id", "model"),
    PROMPT_VERSION: Owned(PromptVersion, "template__project_id", "prompt version"),
    JOB: Owned(Job, "project_id", "job"),
}


class InputOutsideProject(Exception):
    """A stored job names rows of another project: it fails with this message, unretried."""


def check_job_inputs(project: Project, params: JobParams) -> None:
    """Refuse (ParamsError naming the field) any named row that is not in `project`."""
    for name, owned, ids in _named_rows(params):
        _check_in_project(project, name, owned, ids)


def check_in_project(project: Project, field: str, kind: str, ids: list[int]) -> None:
    """The same check for one field, for a service that must check an input before it
    reads anything of it (the tree job whose trees a long-thought job will walk)."""
    _check_in_project(project, field, OWNED[kind], ids)


def _check_in_project(project: Project, field: str, owned: Owned, ids: list[int]) -> None:
    found = _projects_of(owned, ids)
    outside = sorted({i for i in ids if found.get(i) != project.pk})
    if outside:
        listed, plural = _listed(owned, outside)
        raise ParamsError(
            field, f"{listed} {'are' if plural else 'is'} not in project {project.name}"
        )


def check_stored_inputs(job: Job, params: JobParams) -> None:
    """Before a runner starts: refuse a stored job naming rows of another project. Rows
    deleted since the job started are not refused here; the runner skips them."""
    for name, owned, ids in _named_rows(params):
        found = _projects_of(owned, ids)
        foreign = sorted({i for i in ids if i in found and found[i] != job.project_id})
        if foreign:
            raise InputOutsideProject(_foreign(name, owned, foreign))


def in_project(job: Job, model: type[M], ids: Iterable[int]) -> QuerySet[M]:
    """The rows of `ids` in the job's project: the only way runners load their items.

    Raises InputOutsideProject if any of them belongs to another project (a missing one, e.g.
    deleted meanwhile, is simply not there)."""
    owned = next(o for o in OWNED.values() if o.model is model)
    rows = model._default_manager.filter(pk__in=list(ids))
    foreign = sorted(
        rows.exclude(**{owned.project_id: job.project_id}).values_list("pk", flat=True)
    )
    if foreign:
        raise InputOutsideProject(_foreign(f"{owned.noun}_ids", owned, foreign))
    return rows.filter(**{owned.project_id: job.project_id})


def _named_rows(params: Any, prefix: str = "") -> Iterator[tuple[str, Owned, list[int]]]:
    """(field name, what it names, the ids) for each field of `params` that names rows; the
    fields of a nested parameters object are read too (`export.job`)."""
    for spec in fields(params):
        value = getattr(params, spec.name)
        kind = spec.metadata.get(OWNER)
        if kind is not None:
            ids = _ids(value)
            if ids:
                yield prefix + spec.name, OWNED[kind], ids
        elif is_dataclass(value) and not isinstance(value, type):
            yield from _named_rows(value, f"{prefix}{spec.name}.")


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, ModelSnapshot | PromptSnapshot):
        return [value.id]
    if isinstance(value, int):
        return [value]
    return [i for item in value for i in _ids(item)]  # ids, or snapshots (models evaluated)


def _projects_of(owned: Owned, ids: list[int]) -> dict[int, int]:
    """The project id of each row that exists, by the row's id."""
    found: dict[int, int] = {}
    for start in range(0, len(ids), BATCH):
        rows = owned.model._default_manager.filter(pk__in=ids[start : start + BATCH])
        found.update(rows.values_list("pk", owned.project_id))
    return found


def _listed(owned: Owned, ids: list[int]) -> tuple[str, bool]:
    """("problems 3, 4", True): the noun and the first few ids; whether that is a plural."""
    shown = ", ".join(str(i) for i in ids[:5])
    if len(ids) > 5:
        shown += f" and {len(ids) - 5} more"
    plural = len(ids) > 1
    return f"{owned.noun}{'s' if plural else ''} {shown}", plural


def _foreign(name: str, owned: Owned, ids: list[int]) -> str:
    listed, plural = _listed(owned, ids)
    verb = "belong" if plural else "belongs"
    return (
        f"{name}: {listed} {verb} to another project; a job reads and writes only the rows "
        "of its own project"
    )
