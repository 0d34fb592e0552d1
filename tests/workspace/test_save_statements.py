"""What an autosave costs the database (issue 30: 50 annotators saving at once on a project of
a million steps): the statements it sends are few and fixed, however many grades it changes;
and two annotators' saves share no row, so neither waits for the other's transaction."""

import re
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from annotation.core.models import Role
from annotation.core.statements import statements_sent
from annotation.grading.models import Grade
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.saves import assignment_save
from tests.factories import (
    MembershipFactory,
    ProblemFactory,
    ProjectFactory,
    UserFactory,
    trace_with_steps,
)
from tests.workspace.conftest import FIVE_STEPS
from tests.workspace.test_saves import node_ids, put

GRADE_WRITE = re.compile(r'\b(UPDATE|INSERT INTO|COPY) "?grading_grade\b')


def test_an_autosave_sends_the_same_few_statements_however_many_grades_change(
    client, project, annotator, trace
):
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    nodes = node_ids(trace)

    def save(version, ratings):
        grades = {node: {"rating": rating} for node, rating in zip(nodes, ratings, strict=False)}
        with statements_sent() as sent:
            assert put(client, claim, {"version": version, "grades": grades}).status_code == 200
        return sent

    save(1, [1])  # the first save makes the annotator's grade source
    # when a step is rated, then one re-rated and three more rated
    one_new = save(2, [1, 1])
    changed_and_new = save(3, [0, 1, 1, 1, -1])

    # then both sent the same statements: the session, the user, the assignment (one read
    # each), a savepoint (a transaction outside tests), the path with its grades, the
    # version's swap, one statement for all the grades (old versions retired, new ones
    # inserted), and its release
    assert len(one_new) == len(changed_and_new) == 8
    writes = [sql for sql in changed_and_new if GRADE_WRITE.search(sql)]
    assert len(writes) == 1
    assert Grade.objects.filter(source__user=annotator).count() == 6
    current = Grade.objects.filter(source__user=annotator, is_current=True)
    assert sorted(current.values_list("rating", flat=True)) == [-1, 0, 1, 1, 1]


def test_a_save_that_sends_its_time_adds_two_statements(client, project, annotator, trace):
    client.force_login(annotator)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    Assignment.objects.filter(pk=claim.pk).update(claimed_at=timezone.now() - timedelta(minutes=2))
    grades = {node_ids(trace)[0]: {"rating": 1}}
    assert put(client, claim, {"version": 1, "grades": grades}).status_code == 200

    # when a save sends nothing new, then one sends the time on the item an API client counted
    with statements_sent() as without_time:
        assert put(client, claim, {"version": 2, "grades": grades}).status_code == 200
    with statements_sent() as with_time:
        body = {"version": 3, "grades": grades, "time_spent_ms": 4200}
        assert put(client, claim, body).status_code == 200

    # then the time took two statements (the claim's row, locked by the save already, and
    # its update), no savepoint of its own, and counted
    assert len(with_time) == len(without_time) + 2

    def savepoints(sent):
        return [sql for sql in sent if "SAVEPOINT" in sql]

    assert len(savepoints(with_time)) == len(savepoints(without_time))
    claim.refresh_from_db()
    assert claim.time_spent_ms == 4200


@pytest.mark.django_db(transaction=True)
def test_two_annotators_saves_wait_for_no_lock_of_each_other():
    # given two annotators with a claim each in one project
    project = ProjectFactory(overlap=1, stop_at_first_bad_step=False)
    claims = []
    for index in range(2):
        problem = ProblemFactory(project=project, text=f"Problem {index}: compute.")
        trace_with_steps(problem, [f"{step} ({index})" for step in FIVE_STEPS])
        user = UserFactory(username=f"annotator{index}")
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
        claims.append(assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE))

    def grades(claim, rating):
        return {"grades": {node: {"rating": rating} for node in node_ids(claim.trace)[:3]}}

    saved, done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first_annotator():
        try:
            with transaction.atomic():  # a save and a re-rating, its transaction held open
                claim = claims[0]
                version = assignment_save(assignment=claim, version=1, draft=grades(claim, 1))
                assignment_save(assignment=claim, version=version, draft=grades(claim, 0))
                saved.set()
                done.wait(timeout=60)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
            saved.set()
        finally:
            connection.close()

    holder = threading.Thread(target=first_annotator)
    holder.start()
    saved.wait(timeout=60)
    # when the second annotator saves twice meanwhile, refusing to wait for any lock
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            version = assignment_save(assignment=claims[1], version=1, draft=grades(claims[1], 1))
            assignment_save(assignment=claims[1], version=version, draft=grades(claims[1], -1))
    except OperationalError as error:  # pragma: no cover - the failure this test is for
        pytest.fail(f"the second annotator's save waited for the first one's transaction: {error}")
    finally:
        done.set()
        holder.join()
    # then both saves went through, each annotator's three grades current
    assert failures == []
    for claim, rating in zip(claims, [0, -1], strict=True):
        ratings = Grade.objects.filter(source__user=claim.annotator, is_current=True)
        assert list(ratings.values_list("rating", flat=True)) == [rating] * 3
