"""An annotator's own path through a trace, the way PRM800K was labeled.

At each position of a trace the grading page shows the step on its path and the alternatives
offered there (PRM800K's completions). The annotator rates them (autosaves, as any grade),
and may choose another alternative to continue, write their own step (a corrected step is one),
or have the project's model continue from a step. Their path then leaves the trace's: it is a
trace of its own (origin labeled, `source_trace` the graded trace, `Assignment.work_trace`)
showing the positions up to the change as the trace did, then their choice; what followed in
the trace is gone from it, until a continuation fills it. From then on their grades are given
in it (the autosave reads `Assignment.graded_trace_id`), so an export of their work rebuilds
PRM800K's row: the completions with their ratings, the chosen one, and a human completion
only where they wrote one.

Each change is a version of the claim (compare-and-swap, as the autosave). A change can be
undone: restoring the trace's own steps from the position where the path left the trace's
brings them back, alternatives and the annotator's grades of them included (a grade stays with
its step's node while the step is off the path).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from django.db import transaction

from algorithms.answers import extract_answer
from annotation.grading.selectors import path_with_current_grades
from annotation.grading.services import person_grades_retrace, person_source
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import ContinueParams, ModelSnapshot
from annotation.jobs.services import job_create
from annotation.llm.models import ModelConfig
from annotation.llm.services import check_job_model, job_sampling
from annotation.problems.models import Origin, StepKind, Trace
from annotation.problems.selectors import StepView, load_trace_views
from annotation.problems.services import NewStep, NewTrace, trace_create, trace_steps_replace
from annotation.workspace.models import OPEN_STATUSES, Assignment, ItemKind
from annotation.workspace.services.drafts import MAX_TEXT
from annotation.workspace.services.errors import VersionConflict, WorkspaceError
from annotation.workspace.services.versions import check_writable, compare_and_swap

# A step the annotator wrote: PRM800K's human completion ({"text", "rating", "source",
# "flagged"}) carries this source.
WRITTEN = {"source": "human"}

Change = Literal["choose", "write", "keep", "restore"]


@dataclass(frozen=True, slots=True)
class PathChange:
    """What happens at `position`: choose the alternative `option`, write `text`, keep the
    step on the path (to continue from it), or restore the trace's own steps from there on."""

    position: int
    change: Change
    option: int | None = None
    text: str = ""


def graded_view(assignment: Assignment) -> list[StepView]:
    """The steps the annotator grades: their own path's, else the trace's (path and
    alternatives, by position then option)."""
    trace_id = assignment.graded_trace_id
    assert trace_id is not None
    trace = Trace.objects.get(pk=trace_id)
    return load_trace_views([trace])[0].steps


class _ShownStep(Protocol):
    position: int
    on_path: bool
    text: str


def path_ends_in_answer(steps: Sequence[_ShownStep]) -> bool:
    """Whether the last step of the path states a final answer (a boxed answer, PRM800K's
    "# Answer", "the answer is ..."): only such a path can be finished as a solution."""
    path = sorted((s for s in steps if s.on_path), key=lambda s: s.position)
    return bool(path) and extract_answer(path[-1].text) is not None


@dataclass(frozen=True, slots=True)
class Departure:
    """Where the annotator's own path leaves the trace's: the first position whose path step
    differs, and how many of the trace's path steps a restore from there brings back."""

    position: int
    restored: int


def path_departure(assignment: Assignment) -> Departure | None:
    """Where the annotator's path leaves the trace's; None while it is the trace's (never
    changed, or changed and restored)."""
    if assignment.work_trace_id is None:
        return None
    return _departure(graded_view(assignment), _trace_view(assignment))


def _trace_view(assignment: Assignment) -> list[StepView]:
    """The steps of the trace being graded, as it came (path and alternatives)."""
    trace_id = assignment.trace_id
    assert trace_id is not None
    return load_trace_views([Trace.objects.get(pk=trace_id)])[0].steps


def _path_nodes(steps: Sequence[StepView]) -> list[Any]:
    return [s.node_id for s in sorted((s for s in steps if s.on_path), key=lambda s: s.position)]


def _departure(own: Sequence[StepView], trace: Sequence[StepView]) -> Departure | None:
    mine, theirs = _path_nodes(own), _path_nodes(trace)
    same = 0
    while same < min(len(mine), len(theirs)) and mine[same] == theirs[same]:
        same += 1
    if same == len(mine) == len(theirs):
        return None
    return Departure(same, len(theirs) - same)


def written_positions(trace_id: int) -> set[int]:
    """Path positions of a labeled path that show a step its annotator wrote."""
    trace = Trace.objects.get(pk=trace_id)
    return {s.position for s in load_trace_views([trace])[0].steps if s.on_path and _is_written(s)}


def _is_written(step: StepView) -> bool:
    return step.option is None and step.extra == WRITTEN


def _changed_steps(steps: Sequence[StepView], change: PathChange) -> list[NewStep]:
    """The steps of the path after the change: the positions before it as they were; at it,
    every alternative (the step that leaves the path among them, with an option number if it
    had none) and the new path step; nothing after it. A person's step that leaves the path
    (the annotator's own, or an imported labeler's human completion) is dropped: PRM800K's row
    holds one human completion per step, the one on the path."""
    position = change.position
    out = [
        NewStep(s.position, s.text, s.kind, s.option, s.on_path, extra=s.extra)
        for s in steps
        if s.position < position
    ]
    here = [s for s in steps if s.position == position]
    spare = max((s.option for s in here if s.option is not None), default=-1) + 1
    for s in here:
        chosen = (change.change == "choose" and s.option == change.option) or (
            change.change == "keep" and s.on_path
        )
        option = s.option
        if option is None and not chosen:
            if (s.extra or {}).get("source") == "human":
                continue  # a person's step (theirs, withdrawn; or a PRM800K labeler's)
            option, spare = spare, spare + 1
        out.append(NewStep(position, s.text, s.kind, option, chosen, extra=s.extra))
    if change.change == "write":
        out.append(NewStep(position, change.text, StepKind.STEP, None, True, extra=dict(WRITTEN)))
    return out


def _checked(steps: Sequence[StepView], change: PathChange) -> PathChange:
    """The change if it can be made here (else WorkspaceError); writing the text of an
    alternative shown at the position chooses that alternative."""
    path_positions = {s.position for s in steps if s.on_path}
    end = max(path_positions, default=-1) + 1  # a step may be written after the last one
    if not 0 <= change.position <= end or any(
        p not in path_positions for p in range(change.position)
    ):
        raise WorkspaceError(
            f"position: {change.position} is not a step of this path (0 to {end}); reload the page."
        )
    here = [s for s in steps if s.position == change.position]
    if change.change == "write":
        text = change.text.strip()
        if not text or len(text) > MAX_TEXT:
            raise WorkspaceError(f"text: write the step, in at most {MAX_TEXT} characters.")
        same = next((s for s in here if s.text == text and s.kind == StepKind.STEP), None)
        if same is not None and same.option is not None:
            return PathChange(change.position, "choose", option=same.option)
        if same is not None and same.on_path:
            return PathChange(change.position, "keep")
        return PathChange(change.position, "write", text=text)
    if change.change == "choose":
        if not any(s.option == change.option for s in here):
            raise WorkspaceError(
                f"option: step {change.position + 1} has no alternative {change.option}."
            )
        return change
    if change.position == end:
        raise WorkspaceError(f"position: step {change.position + 1} does not exist yet.")
    return change


def _restored_steps(
    assignment: Assignment, steps: Sequence[StepView], position: int
) -> tuple[list[NewStep], dict[int, Any]]:
    """The path with the trace's own steps from `position` on (its path and alternatives),
    the positions before it as they are; and the nodes of its path, which it shares with the
    trace. Only where the path is still the trace's before `position` (else WorkspaceError)."""
    trace = _trace_view(assignment)
    departure = _departure(steps, trace) if assignment.work_trace_id is not None else None
    if departure is None:
        raise WorkspaceError("restore: your path is the trace's; there is nothing to restore.")
    if not 0 <= position <= departure.position:
        raise WorkspaceError(
            f"position: your path is the trace's up to step {departure.position}; restore from "
            f"step {departure.position + 1} or before."
        )
    kept = [s for s in steps if s.position < position] + [
        s for s in trace if s.position >= position
    ]
    new_steps = [
        NewStep(s.position, s.text, s.kind, s.option, s.on_path, extra=s.extra) for s in kept
    ]
    return new_steps, {s.position: s.node_id for s in trace if s.on_path and s.node_id is not None}


@transaction.atomic
def work_path_change(*, assignment: Assignment, version: Any, change: PathChange) -> int:
    """Makes the change on the annotator's own path (made from the trace on the first change);
    returns the claim's new version."""
    if assignment.kind != ItemKind.GRADE or assignment.trace_id is None:
        raise WorkspaceError("Only a trace being graded has steps to choose or write.")
    check_writable(assignment)
    if version != assignment.version:
        raise VersionConflict(Assignment.objects.get(pk=assignment.pk))
    Assignment.objects.select_for_update().filter(pk=assignment.pk).first()
    steps = graded_view(assignment)
    if change.change == "restore":
        new_steps, path = _restored_steps(assignment, steps, change.position)
    else:
        change = _checked(steps, change)
        new_steps = _changed_steps(steps, change)
        path = {s.position: s.node_id for s in steps if s.on_path and s.position < change.position}
    source = person_source(user=assignment.annotator)
    if assignment.work_trace_id is None:
        trace = trace_create(
            NewTrace(
                problem_id=assignment.problem_id,
                origin=Origin.LABELED,
                author_id=assignment.annotator_id,
                source_trace_id=assignment.trace_id,
                steps=new_steps,
                existing_nodes={p: n for p, n in path.items() if n is not None},
            )
        )
        Assignment.objects.filter(pk=assignment.pk).update(work_trace=trace)
        person_grades_retrace(
            source=source, from_trace_id=assignment.trace_id, to_trace_id=trace.pk
        )
        assignment.work_trace = trace
    else:
        trace_steps_replace(
            trace_id=assignment.work_trace_id,
            problem_id=assignment.problem_id,
            steps=new_steps,
            existing_nodes={p: n for p, n in path.items() if n is not None},
        )
    return compare_and_swap(assignment, version=version, draft=_draft_of_shown(assignment, source))


def _draft_of_shown(assignment: Assignment, source: Any) -> dict[str, Any]:
    """The draft with the grades of steps the path no longer shows left out, and the
    annotator's current grade of each step shown again (a restore) put back."""
    trace_id = assignment.graded_trace_id
    assert trace_id is not None
    shown = path_with_current_grades(trace_id, source)
    grades = assignment.draft.get("grades") or {}
    kept = {key: value for key, value in grades.items() if key in shown.positions}
    for node, grade in shown.current.items():
        if str(node) not in kept and (grade.rating is not None or grade.unsure):
            back: dict[str, Any] = {"rating": grade.rating}
            kept[str(node)] = (
                back
                | ({"unsure": True} if grade.unsure else {})
                | ({"critique": grade.critique} if grade.critique else {})
            )
    return {**assignment.draft, "grades": kept}


def work_path_write(*, assignment: Assignment, version: Any, position: int, text: str) -> int:
    """The annotator's own step at `position` (a corrected step is one)."""
    change = PathChange(position, "write", text=text)
    return work_path_change(assignment=assignment, version=version, change=change)


# Continuations ---------------------------------------------------------------------------------


def continuation_model(assignment: Assignment) -> ModelConfig:
    model_id = assignment.project.continuation_model_id
    if model_id is None:
        raise WorkspaceError(
            "This project has no model to continue solutions; an admin can choose one on the "
            "project's quality page."
        )
    model = ModelConfig.objects.get(pk=model_id)
    check_job_model(model, scorer=False)
    return model


@transaction.atomic
def work_path_continue(*, assignment: Assignment, version: Any, position: int) -> tuple[int, Job]:
    """Ends the path at `position` (made the annotator's own if it was not) and asks the
    project's model to continue from there; returns the new version and the job."""
    model = continuation_model(assignment)
    new_version = work_path_change(
        assignment=assignment, version=version, change=PathChange(position, "keep")
    )
    assert assignment.work_trace_id is not None
    prefix = [
        str(s.node_id) for s in graded_view(assignment) if s.on_path and s.node_id is not None
    ]
    job = job_create(
        project=assignment.project,
        kind=JobKind.CONTINUE,
        params=ContinueParams(
            trace=assignment.work_trace_id,
            prefix=tuple(prefix),
            model=ModelSnapshot.of(model),
            sampling=job_sampling(model, {}),
        ),
        created_by=assignment.annotator,
    )
    return new_version, job


def latest_continuation(assignment: Assignment) -> Job | None:
    """The last continuation asked for on the annotator's path."""
    if assignment.work_trace_id is None:
        return None
    return (
        Job.objects.filter(
            project_id=assignment.project_id,
            kind=JobKind.CONTINUE,
            params__trace=assignment.work_trace_id,
        )
        .order_by("-id")
        .first()
    )


def pending_continuation(assignment: Assignment) -> Job | None:
    job = latest_continuation(assignment)
    return job if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING) else None


@transaction.atomic
def continuation_attach(*, trace_id: int, prefix: Sequence[str], texts: Sequence[str]) -> bool:
    """Shows a model's continuation (steps after `prefix`) on an annotator's path, if the path
    is still `prefix` and their claim still open; False when it is not (the annotator changed
    their path meanwhile, or submitted)."""
    assignment = Assignment.objects.select_for_update().filter(work_trace_id=trace_id).first()
    if assignment is None or assignment.status not in OPEN_STATUSES:
        return False
    trace = Trace.objects.get(pk=trace_id)
    steps = load_trace_views([trace])[0].steps
    path = [str(s.node_id) for s in steps if s.on_path]
    if path != list(prefix) or not texts:
        return False
    end = len(path)
    new_steps = [
        NewStep(s.position, s.text, s.kind, s.option, s.on_path, extra=s.extra) for s in steps
    ] + [NewStep(end + i, text, StepKind.STEP, 0, True) for i, text in enumerate(texts)]
    trace_steps_replace(
        trace_id=trace_id,
        problem_id=trace.problem_id,
        steps=new_steps,
        existing_nodes={i: uuid.UUID(n) for i, n in enumerate(path)},
    )
    return True
