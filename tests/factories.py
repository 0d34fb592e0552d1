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


class TraceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "problems.Trace"

    problem = factory.SubFactory(ProblemFactory)
    origin = "imported"


def trace_with_steps(problem, texts, **fields):
    """A trace whose path is `texts`, one StepNode per step, chained from the problem."""
    from annotation.problems.models import StepNode, TraceStep
    from annotation.problems.tree import node_id

    trace = TraceFactory(problem=problem, **fields)
    parent = None
    for position, text in enumerate(texts):
        nid = node_id(problem.pk, parent, "step", text)
        StepNode.objects.get_or_create(
            id=nid,
            defaults={
                "problem": problem,
                "parent_id": parent,
                "depth": position + 1,
                "kind": "step",
                "text": text,
            },
        )
        TraceStep.objects.create(trace=trace, position=position, node_id=nid)
        parent = nid
    return trace
