"""The long-thought runner in the test process, its rewriter a real HTTP endpoint on 127.0.0.1:
a second run (a redelivery, or a worker taking over an abandoned job) writes nothing twice and
only fills what is missing."""

from typing import Any

import pytest

from annotation.jobs.models import JobStatus
from annotation.llm.services import model_config_create
from annotation.problems.models import Trace
from annotation.trees.services import long_thought_job_start, tree_round_record
from tests.support.endpoints import scripted_endpoint
from tests.trees.conftest import rewriter_answer, two_correct_leaves
from workers.runners.long_thought import run_long_thought

pytestmark = pytest.mark.django_db


def test_running_a_long_thought_job_again_only_fills_what_is_missing(problem, settings: Any):
    # given a finished run over a tree with two correct paths
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    tree_job = tree_round_record(
        project=problem.project,
        user=None,
        trees=[(problem.pk, two_correct_leaves(problem))],
        label="r",
    )
    with scripted_endpoint(respond=rewriter_answer) as endpoint:
        rewriter = model_config_create(
            project=problem.project,
            name="echo",
            kind="openai",
            path_or_endpoint=endpoint.url,
            served_name="echo",
        )
        job = long_thought_job_start(
            project=problem.project, user=None, tree_job=tree_job, k=2, rewriter=rewriter
        )
        job.status = JobStatus.RUNNING
        job.save(update_fields=["status"])
        first = run_long_thought(job)
        keys = sorted(Trace.objects.filter(job=job).values_list("external_id", flat=True))
        # when one rewrite is lost and the job runs again, twice
        Trace.objects.filter(job=job, metadata__kind="rewrite", metadata__leaf=5).delete()
        run_long_thought(job)
        second = run_long_thought(job)
        # then exactly the same keys exist, each once, and only the lost rewrite was asked for
        assert sorted(Trace.objects.filter(job=job).values_list("external_id", flat=True)) == keys
        assert len(endpoint.requests) == 3
    base = f"lt{job.pk}:p{problem.pk}"
    assert keys == sorted(
        f"{base}:l{leaf}:{kind}" for leaf in (3, 5) for kind in ("shortcut", "draft", "rewrite")
    )
    assert (
        first
        == second
        == {
            "problems": 1,
            "shortcuts": 2,
            "drafts": 2,
            "rewrites": 2,
            "rewrites_failing_fidelity": 0,
            "without_correct_leaf_this_run": 0,
        }
    )
