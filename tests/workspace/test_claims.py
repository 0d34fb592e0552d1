import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from annotation.core.models import Role
from annotation.workspace.models import Assignment, AssignmentStatus, ItemKind
from annotation.workspace.services.claims import assignment_claim_next, assignment_skip
from annotation.workspace.services.errors import WorkspaceError
from tests.factories import (
    MembershipFactory,
    ProblemFactory,
    ProjectFactory,
    UserFactory,
    trace_with_steps,
)
from tests.support.pg_sessions import postgres_params, wait_for_a_lock_wait


def make_traces(project, n):
    return [
        trace_with_steps(ProblemFactory(project=project), [f"step a{i}", f"step b{i}"])
        for i in range(n)
    ]


def annotators(project, n, prefix="a"):
    users = [UserFactory(username=f"{prefix}{i}") for i in range(n)]
    for user in users:
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return users


def test_next_resumes_in_progress_work(project, annotator, trace):
    # given a claim
    first = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)

    # when the annotator asks again
    again = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)

    # then the same work comes back
    assert first is not None
    assert again == first
    assert first.trace == trace
    assert first.status == AssignmentStatus.IN_PROGRESS
    assert Assignment.objects.count() == 1


def test_overlap_limits_annotators_per_item(db):
    # given one trace graded by at most 2 annotators
    project = ProjectFactory(overlap=2)
    [trace] = make_traces(project, 1)
    users = annotators(project, 3)

    # when three annotators ask
    claims = [assignment_claim_next(project=project, user=u, kind=ItemKind.GRADE) for u in users]

    # then two got it and the third got nothing
    assert [c.trace_id if c else None for c in claims] == [trace.pk, trace.pk, None]


def test_skip_frees_the_place_and_is_not_offered_again(db):
    project = ProjectFactory(overlap=1)
    first, second = make_traces(project, 2)
    [alice, bob] = annotators(project, 2)
    claim = assignment_claim_next(project=project, user=alice, kind=ItemKind.GRADE)
    assert claim is not None and claim.trace == first

    # when alice skips it
    assignment_skip(assignment=claim, reason="outside my field")

    # then she gets the next one, and bob may take the skipped one
    assert assignment_claim_next(project=project, user=alice, kind=ItemKind.GRADE).trace == second
    assert assignment_claim_next(project=project, user=bob, kind=ItemKind.GRADE).trace == first


def test_skip_needs_a_reason(project, annotator, trace):
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    with pytest.raises(WorkspaceError, match="Say why you skip"):
        assignment_skip(assignment=claim, reason="  ")


def test_stale_claims_expire_and_give_the_place_back(db):
    project = ProjectFactory(overlap=1, claim_timeout_minutes=30)
    [trace] = make_traces(project, 1)
    [alice, bob] = annotators(project, 2)
    claim = assignment_claim_next(project=project, user=alice, kind=ItemKind.GRADE)
    Assignment.objects.filter(pk=claim.pk).update(updated_at=timezone.now() - timedelta(minutes=31))

    # when bob asks
    taken = assignment_claim_next(project=project, user=bob, kind=ItemKind.GRADE)

    # then alice's claim expired and bob has the trace
    assert taken is not None and taken.trace == trace
    claim.refresh_from_db()
    assert claim.status == AssignmentStatus.EXPIRED


def test_record_queue_serves_problems(project, annotator):
    problem = ProblemFactory(project=project)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.RECORD)
    assert claim is not None
    assert (claim.kind, claim.problem_id, claim.trace_id) == ("record", problem.pk, None)


def test_unknown_queue_is_refused(project, annotator):
    with pytest.raises(WorkspaceError, match="Unknown queue 'x'"):
        assignment_claim_next(project=project, user=annotator, kind="x")


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_claimers_never_exceed_overlap():
    # given overlap 2, 10 traces (20 places) and 20 annotators
    project = ProjectFactory(overlap=2)
    make_traces(project, 10)
    users = annotators(project, 20, prefix="c")
    barrier = threading.Barrier(20)
    results: list[int | None] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claim(user):
        try:
            barrier.wait()
            got = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
            with lock:
                results.append(got.trace_id if got else None)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    # when they all press Next at once
    threads = [threading.Thread(target=claim, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every claimer got a trace, each trace exactly twice, none more
    assert errors == []
    assert len(results) == 20
    assert None not in results
    per_trace = dict(
        Assignment.objects.filter(project=project)
        .values_list("trace_id")
        .annotate(n=Count("id"))
        .values_list("trace_id", "n")
    )
    assert sorted(per_trace.values()) == [2] * 10
    assert Assignment.objects.filter(project=project).count() == 20


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_postgresql_ends_as_a_deadlock_victim_is_tried_again():
    """Claimers lock queue entries and wait for one another (every open entry being claimed):
    under load PostgreSQL ended one in a cycle as "deadlock detected". The claim is tried again
    in a new transaction. Here a second session makes the cycle: it holds the only entry, the
    claim waits for it while holding the annotator's claim lock, and the session then asks for
    that lock; the claim's wait is the one PostgreSQL checks first (a shorter deadlock_timeout),
    so the claim is the victim, and once the session ends the claim's second try takes the entry."""
    project = ProjectFactory(overlap=1)
    [trace] = make_traces(project, 1)
    [user] = annotators(project, 1)
    claims: list[Any] = []

    def claim():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET deadlock_timeout = '2s'")
            claims.append(assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE))
        except BaseException as error:  # reported below
            claims.append(error)
        finally:
            connection.close()

    with psycopg.connect(**postgres_params(), autocommit=False) as other:
        other.execute("SET deadlock_timeout = '60s'")
        other.execute(
            "SELECT 1 FROM workspace_queueentry WHERE trace_id = %s FOR UPDATE", [trace.pk]
        )
        thread = threading.Thread(target=claim)
        thread.start()
        wait_for_a_lock_wait("the claim")
        # the session waits for the claim's lock: PostgreSQL ends the claim's transaction
        other.execute("SELECT pg_advisory_xact_lock(%s, %s)", [project.pk, user.pk])
        other.rollback()
        thread.join(timeout=60)
    assert [type(c).__name__ for c in claims] == ["Assignment"]
    assert claims[0].trace_id == trace.pk
