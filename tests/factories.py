from functools import cache

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import get_hasher, make_password

from annotation.core.models import Membership, Project, Role

PASSWORD = "pw-for-tests"


def password_hash() -> str:
    """The tests' password hashed by the site's hasher of the moment: PBKDF2 with a million
    rounds (half a second of CPU each time) is run once per process and its hash shared by
    every user made here; a test that picks a faster hasher (tests/security) gets its own."""
    return _hashed_by(get_hasher().algorithm)


@cache
def _hashed_by(algorithm: str) -> str:
    return make_password(PASSWORD, hasher=algorithm)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.LazyFunction(password_hash)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"project {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


def researcher(project):
    """A user who may start model jobs in the project (a job's creator must still be one when
    the job runs)."""
    return MembershipFactory(project=project, role=Role.RESEARCHER).user


# Workspace ------------------------------------------------------------------------------------


class ProblemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "problems.Problem"

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"problem-{n}")
    text = factory.Sequence(lambda n: f"What is ${n} + 1$?")
    text_digest = factory.Sequence(lambda n: f"{n:064x}")
    answer = "2"
    source = "test"


def trace_with_steps(problem, texts, **fields):
    """A trace whose path is `texts` (origin imported unless given), written by the problems
    service: shared prefixes share their nodes."""
    from annotation.problems.services import NewTrace, path_steps, trace_create

    fields.setdefault("origin", "imported")
    if fields["origin"] == "model_sample":  # a generation job keeps what the model wrote
        fields["metadata"] = {"raw_text": "\n\n".join(texts), **fields.get("metadata", {})}
    for name in ("author", "job", "source_trace"):  # model instances as the ORM takes them
        if name in fields:
            related = fields.pop(name)
            fields[f"{name}_id"] = related.pk if related is not None else None
    return trace_create(NewTrace(problem_id=problem.pk, steps=path_steps(texts), **fields))
