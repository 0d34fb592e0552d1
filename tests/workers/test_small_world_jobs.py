"""Tree and long-thought jobs on the small-world model (committed beside the demo's data),
run by a real Celery worker through transformers on the CPU: the model solves some held-out
problems and slips on others, so its trees have correct and wrong leaves and the long
thoughts derived from them make trials that fail before the path that succeeds."""

from collections.abc import Iterator

import pytest

from annotation.datasets.small_world import (
    DEMO_MODEL_DIR,
    HELD_OUT_SUBJECT,
    SAMPLING,
    small_world_import,
)
from annotation.jobs.models import JobStatus
from annotation.llm.models import ModelConfig
from annotation.llm.services import model_config_create
from annotation.problems.models import Problem, Trace
from annotation.trees.models import TreeNode
from annotation.trees.services import long_thought_job_start, tree_job_start, tree_params
from tests.factories import ProjectFactory, researcher
from tests.support.worker import WorkerProcess, finished, purge_broker
from workers.small_world_model import TREE_FORM_PROMPT

pytestmark = [pytest.mark.worker, pytest.mark.models]


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    purge_broker()
    process = WorkerProcess(tmp_path_factory.mktemp("worker-logs")).start()
    yield process
    process.stop()


def small_world_config(project: object, name: str, head: str) -> ModelConfig:
    return model_config_create(
        project=project,
        name=name,
        kind="transformers",
        path_or_endpoint=str(DEMO_MODEL_DIR),
        dtype="float32",
        default_sampling=SAMPLING,
        scorer_head=head,
        use_chat_template=False,
    )


def test_trees_and_long_thoughts_on_the_small_world_model(
    worker: WorkerProcess, transactional_db: None
) -> None:
    # given held-out problems of one and two operations
    project = ProjectFactory()
    small_world_import(project=project, train=0, test=20)
    problems = Problem.objects.filter(
        project=project, subject=HELD_OUT_SUBJECT, level__in=(1, 2)
    ).order_by("pk")
    user = researcher(project)

    # when: a tree under the tree form's default prompt
    tree_job = tree_job_start(
        project=project,
        user=user,
        params=tree_params(
            model=small_world_config(project, "small world", ""),
            scorer=small_world_config(project, "small world as prm", "math-shepherd"),
            problem_ids=[p.pk for p in problems],
            prompt=TREE_FORM_PROMPT,
            width=4,
            keep=4,
            max_depth=4,
            sampling={"temperature": 1.0, "max_tokens": 24, "seed": 0},
            chunk_size=8,
        ),
    )
    tree_job = finished(tree_job, worker, timeout_s=900)

    # then: readable steps, some leaves right and some wrong
    assert tree_job.status == JobStatus.SUCCEEDED, tree_job.error
    leaves = TreeNode.objects.filter(job=tree_job, is_leaf=True)
    assert leaves.filter(is_correct=True).exists()
    assert leaves.filter(is_correct=False).exists()
    first_steps = list(
        TreeNode.objects.filter(job=tree_job, depth=1).values_list("node__text", flat=True)
    )
    assert all(text.startswith("Step 1: ") for text in first_steps), first_steps

    # when: long thoughts from its correct paths
    thought_job = long_thought_job_start(project=project, user=user, tree_job=tree_job, k=2, seed=0)
    thought_job = finished(thought_job, worker, timeout_s=600)

    # then: at least one draft tries a wrong path before the right one
    assert thought_job.status == JobStatus.SUCCEEDED, thought_job.error
    drafts = Trace.objects.filter(job=thought_job, metadata__kind="draft")
    assert drafts.exists()
    assert any(d.metadata["wrong_leaves"] >= 1 for d in drafts)
