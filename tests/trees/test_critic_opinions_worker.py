"""A critic's verdicts are opinions (issue 28), through a real Celery worker: a policy-critic job
on an OpenAI-compatible endpoint (a real HTTP server on 127.0.0.1 with scripted replies) whose
critic calls a correct final answer wrong. The answer check decides that step, and a PRM export
takes the critic's verdicts as labels only when it asks for the critic's source.

The session's shared worker may reach the test's endpoint (on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import EmptyExport, export_to_directory
from annotation.grading.models import Grade, SourceKind
from annotation.jobs.models import JobStatus
from annotation.llm.services import model_config_create
from annotation.problems.models import Problem
from annotation.problems.tree import text_digest
from annotation.trees.models import TreeNode
from annotation.trees.steered import policy_critic_job_start
from tests.factories import ProjectFactory, researcher
from tests.support.endpoints import scripted_endpoint
from tests.support.worker import WorkerProcess, finished
from tests.trees.conftest import SteeringScript, steering_answer

pytestmark = [pytest.mark.worker]

PROBLEM = "Solve 3x = 6."
SCRIPT: SteeringScript = {
    (PROBLEM, "policy", 1, 0): "Divide both sides by 3.",
    (PROBLEM, "critic", 1, 0): "VERDICT: continue\nREASON: Dividing undoes the 3.",
    (PROBLEM, "policy", 2, 0): "So x = 6 / 3 = 2, and the answer is $\\boxed{2}$.",
    (PROBLEM, "critic", 2, 0): "VERDICT: reflect\nREASON: 2 is wrong; check again.",
}


def test_a_critic_calling_a_correct_answer_wrong_labels_nothing_by_default(
    shared_worker: WorkerProcess, transactional_db: None, settings: object, tmp_path: Path
) -> None:
    # given a policy-critic job whose critic rejects the correct final answer 2
    project = ProjectFactory()
    problem = Problem.objects.create(
        project=project, external_id="a", text=PROBLEM, text_digest=text_digest(PROBLEM), answer="2"
    )
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]  # type: ignore[attr-defined]
    with scripted_endpoint(respond=steering_answer(SCRIPT)) as endpoint:
        model = model_config_create(
            project=project, name="scripted", kind="openai", path_or_endpoint=endpoint.url
        )
        job = policy_critic_job_start(
            project=project, user=researcher(project), model=model, problem_ids=[problem.pk]
        )
        # when
        job = finished(job, shared_worker)

    # then: solved; the final step's stored verdict is the answer check's (none: correct),
    # with no critic score, judgement or reason on the node
    assert (job.status, job.result["stops"]) == (JobStatus.SUCCEEDED, {"solved": 1})
    final = TreeNode.objects.get(job=job, problem=problem, index=2)
    assert (final.is_correct, final.wrong_source, final.score, final.judged_correct) == (
        True,
        "",
        None,
        None,
    )
    # the critic's opinions are kept under its own source, given in no trace
    opinions = Grade.objects.filter(source__job=job).order_by("node__depth")
    assert [(g.score, g.trace_id, g.source.kind) for g in opinions] == [
        (1.0, None, SourceKind.JUDGE),
        (0.0, None, SourceKind.JUDGE),
    ]
    # a PRM export of the job with default options takes no critic verdict as a label
    with pytest.raises(EmptyExport, match="left out: 2 not_fully_graded"):
        export_to_directory(
            project=project,
            options=ExportOptions(format="trl-stepwise", jobs=(job.pk,)),
            directory=tmp_path / "default",
        )
    # only one that asks for the critic's source does
    manifest = export_to_directory(
        project=project,
        options=ExportOptions(format="trl-stepwise", jobs=(job.pk,), grades="run", run=job.pk),
        directory=tmp_path / "critic",
    )
    assert manifest["splits"]["train"]["rows"] >= 1
