"""The fixed statements of the hot request path read and write exactly what the ORM does."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.core.auth_backends import UserBackend
from annotation.core.fixed_sql import Selected, fetch_one
from annotation.core.sessions import SessionStore
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

DRAFT = {
    "grades": {"a": {"rating": -1, "unsure": True}},
    "note": "ünïcode $\\frac{1}{2}$",
    "n": 2**70,
}


def field_values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.fixture
def claim(project):
    user = UserFactory()
    MembershipFactory(project=project, user=user)
    trace_with_steps(ProblemFactory(project=project), ["one", "two"])
    claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
    Assignment.objects.filter(pk=claim.pk).update(draft=DRAFT, time_spent_ms=1234)
    return claim


def test_selected_rows_equal_the_orms_field_by_field(claim):
    source = GradeSource.objects.create(kind=SourceKind.HUMAN, user=claim.annotator, name="h")
    node = claim.trace.steps.get(position=1).node_id
    grade = Grade.objects.create(node_id=node, source=source, trace=claim.trace, rating=-1)
    for model, pk in ((Assignment, claim.pk), (Grade, grade.pk)):
        part = Selected(model, "t")
        row = fetch_one(f"SELECT {part.sql} FROM {model._meta.db_table} t WHERE id = %s", [pk])

        read = part.instance(row)

        assert field_values(read) == field_values(model.objects.get(pk=pk))
    assert read.node_id == node and read.unsure is False and read.score is None
    assert part.values(row)[0] == grade.pk


def test_sessions_load_unexpired_rows_only(db):
    store = SessionStore()
    store["_auth_user_id"] = "7"
    store.create()
    live, expired = SessionStore(store.session_key), SessionStore(store.session_key)
    assert live.load() == {"_auth_user_id": "7"}
    Session.objects.filter(pk=store.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    assert expired.load() == {}
    assert expired.session_key is None
    assert SessionStore("no-such-key-0123456789abcdef").load() == {}


def test_user_backend_returns_active_users_only(db):
    user = UserFactory(first_name="Ada")
    backend = UserBackend()

    found = backend.get_user(str(user.pk))

    assert field_values(found) == field_values(type(user).objects.get(pk=user.pk))
    assert backend.get_user(str(user.pk + 1000)) is None
    assert backend.get_user("not a number") is None
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert backend.get_user(str(user.pk)) is None


def test_login_round_trip_uses_both(client, claim):
    client.force_login(claim.annotator)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.wsgi_request.user == claim.annotator
    assert response.status_code in (200, 302)
    assert "django_session" in queries.captured_queries[0]["sql"]


def test_an_instance_of_some_fields_loads_the_others_on_access_and_saves_as_an_update(claim):
    # given: an assignment read with two of its fields
    part = Selected(Assignment, "t", ("id", "time_spent_ms"))
    row = fetch_one(
        f"SELECT {part.sql} FROM {Assignment._meta.db_table} t WHERE id = %s", [claim.pk]
    )
    # when
    read = part.instance(row)
    # then: the others are deferred, read when asked for; saving updates the row
    assert read.get_deferred_fields() == {f.attname for f in Assignment._meta.concrete_fields} - {
        "id",
        "time_spent_ms",
    }
    assert read.draft == DRAFT and read.annotator == claim.annotator
    read.time_spent_ms = 99
    read.save(update_fields=["time_spent_ms"])
    assert Assignment.objects.get(pk=claim.pk).time_spent_ms == 99
    assert Assignment.objects.count() == 1
