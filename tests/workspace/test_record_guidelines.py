"""The thought-record page shows the project's guidelines for recording, not the grading ones."""

import pytest

from annotation.core.models import Role
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, ProblemFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_record_page_shows_the_record_guidelines(client, project):
    # given
    project.guidelines = "Rate each step +1, 0 or -1."
    project.record_guidelines = "Write down every attempt."
    project.save()
    ProblemFactory(project=project)
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    claim = assignment_claim_next(project=project, user=user, kind="record")
    client.force_login(user)
    # when
    page = client.get(f"/work/{claim.pk}/").content.decode()
    # then
    assert "Write down every attempt." in page
    assert "Rate each step" not in page
