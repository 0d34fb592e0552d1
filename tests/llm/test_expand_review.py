"""An expansion job reads thought records by their review, when it runs too: a record
rejected while the job waits is not expanded (a tiny transformers model, in the test
process)."""

import pytest

from annotation.core.models import Role
from annotation.jobs.models import JobStatus
from annotation.llm.models import PromptPurpose
from annotation.llm.services import expand_job_start
from annotation.problems.models import Trace
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.records import record_submit
from annotation.workspace.services.reviews import assignment_review
from tests.factories import MembershipFactory, UserFactory
from tests.support.data import generator_config, make_problems, prompt
from workers.runners.expand import run_expand

pytestmark = [pytest.mark.django_db, pytest.mark.models]


def test_a_record_rejected_after_the_job_started_is_not_expanded(project):
    # given two submitted records and an expansion job of both
    project.overlap = 2
    project.save()
    make_problems(project, 1)
    claims = []
    for name in ("kept", "dropped"):
        user = MembershipFactory(project=project, user=UserFactory(username=name)).user
        claim = assignment_claim_next(project=project, user=user, kind=ItemKind.RECORD)
        record_submit(
            assignment=claim,
            version=1,
            draft={"thoughts": [{"kind": "attempt", "text": f"{name}: 2 + 3 = 5"}]},
            finish_reason="give_up",
            checklist={"attempts": True, "common_knowledge": True},
        )
        claim.refresh_from_db()
        claims.append(claim)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    job = expand_job_start(
        project=project,
        user=researcher,
        model=generator_config(project, "transformers"),
        prompt=prompt(project, PromptPurpose.EXPAND),
        trace_ids=[c.record_id for c in claims],
    )
    # when the second is rejected before the job runs
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    assignment_review(assignment=claims[1], reviewer=reviewer, decision="rejected", comment="no")
    job.status = JobStatus.RUNNING
    job.save(update_fields=["status"])
    run_expand(job)
    # then only the first is expanded
    assert list(Trace.objects.filter(job=job).values_list("source_trace_id", flat=True)) == [
        claims[0].record_id
    ]
