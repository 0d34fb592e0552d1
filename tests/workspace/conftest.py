import pytest

from annotation.core.models import Role
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

FIVE_STEPS = [
    "Let $x = 2$.",
    "Then $x^2 = 4$.",
    "So $x^2 + 1 = 5$.",
    "Hence $\\sqrt{x^2+1} = \\sqrt{5}$.",
    "The answer is $\\boxed{\\sqrt{5}}$.",
]


@pytest.fixture
def annotator(project):
    user = UserFactory(username="ann")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def trace(project):
    problem = ProblemFactory(project=project, text="Compute $\\sqrt{5}$.", answer="\\sqrt{5}")
    return trace_with_steps(problem, FIVE_STEPS)
