"""The grade tallies equal a count over the grade rows after any sequence of writes: people's
grades and re-grades (and cleared ratings), model runs, Monte-Carlo labels, imported COPY
rows, grades moved to another trace, review decisions, and deletions of traces and sources.
So do the grading queue's kept entries (annotation/workspace/queue_entries.py: in the queue,
active claims, machine disagreement) after the same writes and claims, status changes, model
outputs sent and taken back, and new traces sharing a scored prefix."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.core.models import Project
from annotation.grading import services
from annotation.grading.models import GradeSource, SourceKind
from annotation.grading.tallies import counted_tallies, data_version, project_tallies
from annotation.problems.models import Trace
from annotation.problems.selectors import counted_sizes, project_sizes
from annotation.workspace.models import Assignment, QueuedTrace
from annotation.workspace.queue_entries import (
    EntryState,
    computed_entries,
    kept_entries,
    queued_count,
)
from annotation.workspace.services.claims import queued_traces
from annotation.workspace.services.reviews import assignment_review
from tests.factories import ProblemFactory, ProjectFactory, UserFactory, trace_with_steps

TRACES, STEPS, PEOPLE = 4, 3, 2  # traces 0-1 in one project, 2-3 in another; odd: model samples
STATUSES = ["in_progress", "submitted", "skipped", "expired"]
where = st.tuples(st.integers(0, TRACES - 1), st.integers(0, STEPS - 1))
OPERATION = st.one_of(
    st.tuples(
        st.just("person"),
        st.integers(0, PEOPLE - 1),
        where,
        st.sampled_from([-1, 0, 1, None]),
        st.booleans(),
    ),
    st.tuples(st.just("run"), where, st.floats(0, 1)),
    st.tuples(st.just("monte_carlo"), where, st.sampled_from([-1, 1]), st.booleans()),
    st.tuples(st.just("import"), where, st.sampled_from([-1, 0, 1])),
    st.tuples(st.just("retrace"), st.integers(0, PEOPLE - 1), st.integers(0, TRACES - 1)),
    st.tuples(st.just("review"), st.sampled_from(["accepted", "rejected", "returned"])),
    st.tuples(st.just("delete_trace"), st.integers(0, TRACES - 1)),
    st.tuples(st.just("delete_source"), st.sampled_from(["run", "monte_carlo", "import"])),
    st.tuples(st.just("assign"), st.integers(0, TRACES - 1), st.sampled_from(STATUSES)),
    st.tuples(st.just("restatus"), st.sampled_from(STATUSES)),
    st.tuples(st.just("send"), st.integers(0, TRACES - 1), st.booleans()),
    st.tuples(st.just("branch"), st.integers(0, TRACES - 1)),
    st.tuples(st.just("outputs"), st.integers(0, 1), st.booleans()),
)


@dataclass(frozen=True)
class Label:
    trace_id: int
    rating: int
    score: float | None
    inferred: bool


@dataclass
class World:
    projects: list[Project]
    traces: list[Trace]
    people: list[Any]
    sources: dict[str, GradeSource]

    def node(self, trace: int, step: int) -> Any:
        return self.traces[trace].steps.get(position=step).node_id

    def alive(self, trace: int) -> bool:
        return Trace.objects.filter(pk=self.traces[trace].pk).exists()

    def source(self, name: str) -> GradeSource | None:
        return GradeSource.objects.filter(pk=self.sources[name].pk).first()


def build() -> World:
    projects = [ProjectFactory(), ProjectFactory()]
    traces = []
    for t in range(TRACES):
        problem = ProblemFactory(project=projects[t // 2])
        origin = "model_sample" if t % 2 else "imported"
        steps = [f"t{t} s{s}" for s in range(STEPS)]
        traces.append(trace_with_steps(problem, steps, origin=origin))
    return World(
        projects,
        traces,
        [UserFactory() for _ in range(PEOPLE)],
        {
            "run": GradeSource.objects.create(kind=SourceKind.PRM, name="run"),
            "monte_carlo": GradeSource.objects.create(kind=SourceKind.MONTE_CARLO, name="mc"),
            "import": services.dataset_source(name="prm800k:labeler"),
        },
    )


def apply(world: World, operation: tuple[Any, ...]) -> None:
    kind, *args = operation
    if kind in ("person", "run", "monte_carlo", "import"):
        trace, step = args[1] if kind == "person" else args[0]
        source = world.source(kind) if kind != "person" else None
        if not world.alive(trace) or (kind != "person" and source is None):
            return
        node, trace_id = world.node(trace, step), world.traces[trace].pk
    if kind == "person":
        person, _, rating, unsure = args
        source = services.person_source(user=world.people[person])
        services.person_grades_write(
            source=source,
            trace_id=trace_id,
            wanted={node: services.StepGrade(rating, unsure)},
            with_critique=False,
        )
    elif kind == "run":
        services.run_scores_write(source=source, scores=[services.Score(node, trace_id, args[1])])
    elif kind == "monte_carlo":
        rating, inferred = args[1:]
        label = Label(trace_id, rating, 1.0 if rating == 1 else 0.0, inferred)
        services.monte_carlo_labels_write(source=source, labels={node: label})
    elif kind == "import":
        row = [node, source.pk, trace_id, args[1], None, None, timezone.now()]
        services.imported_grades_copy([row], set())
    elif kind == "retrace":
        person, to = args
        same_project = [t for t in range(TRACES) if t // 2 == to // 2 and world.alive(t)]
        if world.alive(to) and len(same_project) == 2:
            source = services.person_source(user=world.people[person])
            other = next(t for t in same_project if t != to)
            services.person_grades_retrace(
                source=source,
                from_trace_id=world.traces[other].pk,
                to_trace_id=world.traces[to].pk,
            )
    elif kind == "review":
        review(world, args[0])
    elif kind == "delete_trace":
        Trace.objects.filter(pk=world.traces[args[0]].pk).delete()
    elif kind == "delete_source":
        GradeSource.objects.filter(pk=world.sources[args[0]].pk).delete()
    else:
        queue_operation(world, kind, args)


def queue_operation(world: World, kind: str, args: list[Any]) -> None:
    """Claims and their statuses, sent model outputs, a trace sharing a scored prefix."""
    if kind == "restatus":  # a bulk update, as claims_expire_stale does
        latest = Assignment.objects.order_by("-pk").values_list("pk", flat=True)[:1]
        Assignment.objects.filter(pk__in=list(latest)).update(status=args[0])
        return
    if kind == "outputs":  # the project queues every job's outputs, or not
        world.projects[args[0]].queue_job_outputs = args[1]
        world.projects[args[0]].save(update_fields=["queue_job_outputs"])
        return
    trace = args[0]
    if not world.alive(trace):
        return
    if kind == "assign":
        Assignment.objects.create(
            project=world.projects[trace // 2],
            kind="grade",
            problem_id=world.traces[trace].problem_id,
            trace=world.traces[trace],
            annotator=UserFactory(),
            status=args[1],
            claimed_at=timezone.now(),
        )
    elif kind == "send" and args[1]:
        QueuedTrace.objects.get_or_create(trace=world.traces[trace])
    elif kind == "send":
        QueuedTrace.objects.filter(trace=world.traces[trace]).delete()
    elif kind == "branch":
        first = world.traces[trace].steps.select_related("node").get(position=0).node.text
        trace_with_steps(world.traces[trace].problem, [first, f"branch {Trace.objects.count()}"])


def review(world: World, decision: str) -> None:
    trace = next((t for t in range(TRACES) if world.alive(t)), None)
    if trace is None:
        return
    work = Assignment.objects.create(
        project=world.projects[trace // 2],
        kind="grade",
        problem_id=world.traces[trace].problem_id,
        trace=world.traces[trace],
        annotator=UserFactory(),  # one assignment per trace and annotator
        status="submitted",
        claimed_at=timezone.now(),
    )
    assignment_review(assignment=work, reviewer=world.people[1], decision=decision, comment="so")


def rounded(entries: dict[int, EntryState]) -> dict[int, tuple[Any, ...]]:
    """A mean of the same scores summed in another order may differ in its last bit."""
    return {
        trace: (e.queued, e.active, None if e.priority is None else round(e.priority, 9))
        for trace, e in entries.items()
    }


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATION, max_size=14))
def test_every_tally_equals_a_count_over_the_rows(operations):
    with rolled_back():
        # given two projects of two traces each, and their sources
        world = build()
        versions = [data_version(p.pk) for p in world.projects]
        for operation in operations:
            # when
            apply(world, operation)
            # then every tally is the count over the rows, and the data version never goes
            # back while the project's sources all stay
            for index, project in enumerate(world.projects):
                assert project_tallies(project.pk) == counted_tallies(project.pk), operation
                assert rounded(kept_entries(project)) == rounded(computed_entries(project))
                assert project_sizes([project.pk]) == counted_sizes([project.pk])
                assert queued_count(project) == queued_traces(project).count()
                version = data_version(project.pk)
                if operation[0] != "delete_source":
                    assert version >= versions[index]
                versions[index] = version


@pytest.mark.django_db
def test_a_write_moves_the_data_version_and_a_read_does_not(project):
    # given
    trace = trace_with_steps(ProblemFactory(project=project), ["a", "b"])
    source = services.person_source(user=UserFactory())
    before = data_version(project.pk)
    # when a grade is written, then the same grade again (unchanged: no row written)
    node = trace.steps.get(position=0).node_id
    for _ in range(2):
        services.person_grades_write(
            source=source,
            trace_id=trace.pk,
            wanted={node: services.StepGrade(-1, False)},
            with_critique=False,
        )
    project_tallies(project.pk)
    # then
    assert data_version(project.pk) == before + 1
    assert (
        project_tallies(project.pk) == {source.pk: counted_tallies(project.pk)[source.pk]}
        and counted_tallies(project.pk)[source.pk].bad == 1
    )
