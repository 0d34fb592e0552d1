import factory
from django.contrib.auth import get_user_model

from annotation.core.models import Membership, Project, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


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
