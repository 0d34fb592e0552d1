"""The assignment door: one fixed query, and what each role may do with someone's claim."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from annotation.core.access import Ability
from annotation.core.models import Role
from annotation.grading.models import GradeSource, SourceKind
from annotation.grading.services import person_source
from annotation.workspace.access import access_assignment
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def claim(project, annotator, trace):
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)


def test_door_loads_project_annotator_and_grade_source_in_one_query(claim, annotator, project):
    source = GradeSource.objects.create(kind=SourceKind.HUMAN, user=annotator, name="user:ann")
    with CaptureQueriesContext(connection) as queries:
        found = access_assignment(annotator, claim.pk)
        loaded = (
            found.project.name,
            found.annotator.username,
            person_source(user=found.annotator).pk,
            found.version,
            found.trace_id,
            found.draft,
        )
    assert len(queries) == 1
    assert loaded == (project.name, "ann", source.pk, 1, claim.trace_id, {})


def test_door_without_a_grade_source_lets_the_first_save_create_it(claim, annotator):
    found = access_assignment(annotator, claim.pk)

    source = person_source(user=found.annotator)

    assert (source.user_id, source.kind) == (annotator.pk, SourceKind.HUMAN)


def member(project, role, **fields):
    user = UserFactory(**fields)
    MembershipFactory(project=project, user=user, role=role)
    return user


@pytest.mark.parametrize(
    ("who", "need", "outcome"),
    [
        ("owner", Ability.ANNOTATE, "ok"),
        ("owner", Ability.VIEW, "ok"),
        ("other annotator", Ability.ANNOTATE, "403"),
        ("other annotator", Ability.VIEW, "403"),
        ("reviewer", Ability.REVIEW, "ok"),
        ("reviewer", Ability.ANNOTATE, "403"),
        ("researcher", Ability.VIEW, "ok"),
        ("admin", Ability.ANNOTATE, "403"),
        ("admin", Ability.REVIEW, "ok"),
        ("superuser", Ability.VIEW, "ok"),
        ("outsider", Ability.VIEW, "404"),
        ("inactive owner", Ability.ANNOTATE, "404"),
    ],
)
def test_what_each_role_may_do_with_a_claim(claim, annotator, project, who, need, outcome):
    users = {
        "owner": lambda: annotator,
        "other annotator": lambda: member(project, Role.ANNOTATOR),
        "reviewer": lambda: member(project, Role.REVIEWER),
        "researcher": lambda: member(project, Role.RESEARCHER),
        "admin": lambda: member(project, Role.ADMIN),
        "superuser": lambda: UserFactory(is_superuser=True),
        "outsider": lambda: UserFactory(),
        "inactive owner": lambda: annotator,
    }
    user = users[who]()
    if who == "inactive owner":
        user.is_active = False
    errors = {"403": PermissionDenied, "404": Http404}

    if outcome == "ok":
        assert access_assignment(user, claim.pk, need).pk == claim.pk
    else:
        with pytest.raises(errors[outcome]):
            access_assignment(user, claim.pk, need)


def test_unknown_assignment_is_404(annotator):
    with pytest.raises(Http404):
        access_assignment(annotator, 987654)
