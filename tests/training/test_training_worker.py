"""Training, sampling, scoring and evaluation jobs chained on a real Celery worker (solo pool)
with tiny models made in this session: export sft-journey -> SFT -> the new model samples;
export dpo -> DPO from that model; export trl-stepwise -> PRM -> the new scorer scores a tree
and human-labelled traces and appears in the scorer comparison; the lineage page shows it.
And the loop closed: people's step labels -> a PRM -> GRPO rewarded by it -> the policy's
"+RL" row in the results table."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.services import export_start
from annotation.evaluation.selectors import compare_sources
from annotation.grading.models import Grade, GradeSource
from annotation.jobs.models import Job, JobStatus
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import sample_job_start, score_job_start
from annotation.problems.models import Origin, Problem, Trace
from annotation.training.models import TrainingLogEntry
from annotation.training.selectors import results_table
from annotation.training.services import (
    evaluation_job_start,
    grpo_job_start,
    training_job_start,
)
from annotation.trees.services import tree_job_start, tree_params
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.support.data import prompt
from tests.support.models import tiny_model
from tests.support.training import (
    FAST,
    GRPO_FAST,
    GRPO_REWARD,
    HELD_OUT,
    base_config,
    training_project,
)
from tests.support.worker import WorkerProcess, finished, purge_broker

pytestmark = [pytest.mark.worker, pytest.mark.models]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("training-worker")
    return {"media": root / "media", "models": root / "models", "logs": root / "logs"}


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: object, dirs: dict[str, Path]
) -> Iterator[WorkerProcess]:
    tiny_model("lm")
    purge_broker()
    dirs["logs"].mkdir()
    env = {"MEDIA_ROOT": str(dirs["media"]), "STEPWISE_MODEL_STORE": str(dirs["models"])}
    process = WorkerProcess(dirs["logs"], env=env).start()
    yield process
    process.stop()


@pytest.fixture
def same_dirs(settings, dirs: dict[str, Path]) -> None:
    settings.MEDIA_ROOT = dirs["media"]
    settings.STEPWISE_MODEL_STORE = dirs["models"]


def export(project, user, worker: WorkerProcess, format_name: str, **options) -> Job:  # type: ignore[no-untyped-def]
    options = ExportOptions(format=format_name, held_out=HELD_OUT, **options)
    return finished(export_start(project=project, user=user, options=options), worker)


def trained(job: Job, worker: WorkerProcess) -> ModelConfig:
    job = finished(job, worker)
    assert job.status == JobStatus.SUCCEEDED
    return ModelConfig.objects.get(pk=job.result["model_config"])


def test_runs_chain_into_models_that_sample_score_compare_and_evaluate(
    worker: WorkerProcess, transactional_db: None, same_dirs: None, client
) -> None:
    # given a project with journeys, graded samples and a base model
    project = ProjectFactory()
    researcher, admin = UserFactory(), UserFactory()  # exports are an admin's to start
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    training_project(project)
    held_out = list(Problem.objects.filter(project=project, external_id__in=HELD_OUT))
    base = base_config(project)
    start = {"project": project, "user": researcher, "hyperparameters": FAST}
    solve = prompt(project, PromptPurpose.SAMPLE)

    # when SFT trains on the journeys
    journeys = export(project, admin, worker, "sft-journey")
    sft = trained(
        training_job_start(method="sft", export=journeys, base=base, name="journey sft", **start),
        worker,
    )
    # then the new model config samples a job
    sample = finished(
        sample_job_start(
            project=project,
            user=researcher,
            model=sft,
            prompt=solve,
            problem_ids=[p.pk for p in held_out],
            n=2,
        ),
        worker,
    )
    assert (sample.status, Trace.objects.filter(job=sample).count()) == (JobStatus.SUCCEEDED, 6)

    # when DPO starts from that model
    pairs = export(project, admin, worker, "dpo", pairs_per_problem=1)
    dpo = trained(
        training_job_start(method="dpo", export=pairs, base=sft, name="journey sft + dpo", **start),
        worker,
    )
    assert (dpo.lineage.parent, dpo.lineage.export_job) == (sft, pairs)

    # when a Math-Shepherd style PRM trains on the people's step labels
    labels = export(
        project,
        admin,
        worker,
        "trl-stepwise",
        grades="annotator",
        annotator=f"grader-{project.pk}",
    )
    prm = trained(
        training_job_start(
            method="prm", export=labels, base=base, name="tiny prm", head="math-shepherd", **start
        ),
        worker,
    )
    assert (prm.kind, prm.scorer_head) == ("transformers", "math-shepherd")
    # then it scores a tree job
    tree = finished(
        tree_job_start(
            project=project,
            user=researcher,
            params=tree_params(
                model=sft,
                scorer=prm,
                problem_ids=[held_out[0].pk],
                width=2,
                keep=2,
                max_depth=2,
                sampling={"max_tokens": 16},
            ),
        ),
        worker,
    )
    tree_source = GradeSource.objects.get(job=tree)
    assert Grade.objects.filter(source=tree_source).count() > 0
    # and the held-out human-labelled samples, so it is measured in the scorer comparison
    people = list(
        Trace.objects.filter(problem__in=held_out, origin=Origin.MODEL_SAMPLE, job=None).order_by(
            "pk"
        )
    )
    score = finished(
        score_job_start(
            project=project, user=researcher, scorer=prm, trace_ids=[t.pk for t in people]
        ),
        worker,
    )
    rows = {row.source.job_id: row for row in compare_sources(project).rows}
    assert {tree.pk, score.pk} <= set(rows)
    assert rows[score.pk].processbench_traces == sum(t.pk % 2 == 0 for t in people)

    # when the models are evaluated on the held-out problems
    evaluation = finished(
        evaluation_job_start(
            project=project,
            user=researcher,
            models=[base, sft, dpo],
            prompt=solve,
            export=journeys,
            k=2,
            sampling={"max_tokens": 16, "seed": 1},
        ),
        worker,
    )
    # then each gets a row over the same three problems
    table = results_table(evaluation)
    assert [(r.label, r.summary.problems, r.summary.samples) for r in table.rows] == [
        ("tiny base@v1", 3, 6),
        ("journey sft@v1", 3, 6),
        ("journey sft + dpo@v1", 3, 6),
    ]
    assert evaluation.result["rows"][1]["trained"].startswith("SFT on sft-journey")

    # and the lineage pages show the chain, down from the base and up from the DPO model
    client.force_login(researcher)
    assert models_listed(client, dpo, "ancestry", "ol") == [
        "tiny base@v1",
        "journey sft@v1",
        "journey sft + dpo@v1",
    ]
    assert models_listed(client, base, "descendants", "ul") == [
        "journey sft@v1",
        "journey sft + dpo@v1",
        "tiny prm@v1",
    ]


def models_listed(client, config: ModelConfig, testid: str, tag: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The models a section of the lineage page lists, in order."""
    import re

    page = client.get(reverse("training-lineage", args=[config.pk])).content.decode()
    section = page.split(f'data-testid="{testid}"')[1].split(f"</{tag}>")[0]
    return re.findall(r'data-model="([^"]+)"', section)


def test_human_labels_train_a_prm_that_rewards_a_grpo_policy_with_its_plus_rl_row(
    worker: WorkerProcess, transactional_db: None, same_dirs: None, client
) -> None:
    # given a project with people's step labels, a base model and a sample prompt
    project = ProjectFactory()
    researcher, admin = UserFactory(), UserFactory()
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    training_project(project)
    base = base_config(project)
    solve = prompt(project, PromptPurpose.SAMPLE)
    labels = export(
        project, admin, worker, "trl-stepwise", grades="annotator", annotator=f"grader-{project.pk}"
    )
    # when a PRM is trained on the labels
    prm = trained(
        training_job_start(
            project=project,
            user=researcher,
            method="prm",
            export=labels,
            base=base,
            name="labels prm",
            head="math-shepherd",
            hyperparameters=FAST,
        ),
        worker,
    )
    # and GRPO trains the base for a few steps on the export's train side, rewarded by it
    grpo = finished(
        grpo_job_start(
            project=project,
            user=researcher,
            base=base,
            name="base +rl",
            prompt=solve,
            export=labels,
            split="train",
            reward=GRPO_REWARD,
            reward_model=prm,
            hyperparameters={**GRPO_FAST, "max_steps": 3, "save_steps": 2},
        ),
        worker,
    )
    # then the run made its steps, logged its rewards and registered the policy
    assert grpo.status == JobStatus.SUCCEEDED, grpo.error
    assert grpo.result["global_step"] == 3
    policy = ModelConfig.objects.get(pk=grpo.result["model_config"])
    assert TrainingLogEntry.objects.filter(job=grpo, reward__isnull=False).count() == 3
    # with a lineage naming the PRM (and the PRM's own lineage, the people's labels)
    lineage = policy.lineage
    assert (lineage.method, lineage.parent, lineage.reward_model) == ("grpo", base, prm)
    assert prm.lineage.export_job == labels
    # when base and policy are evaluated on the held-out problems
    evaluation = finished(
        evaluation_job_start(
            project=project,
            user=researcher,
            models=[base, policy],
            prompt=solve,
            export=labels,
            k=2,
            sampling={"max_tokens": 16, "seed": 1},
        ),
        worker,
    )
    # then the results table has the policy's "+RL" row over the same three problems
    table = results_table(evaluation)
    assert [(r.label, r.reinforced, r.summary.problems) for r in table.rows] == [
        ("tiny base@v1", False, 3),
        ("base +rl@v1", True, 3),
    ]
    assert table.rows[1].trained.startswith("+RL: GRPO on 9 problems (train split)")
    assert "labels prm@v1" in table.rows[1].trained
    client.force_login(researcher)
    page = client.get(reverse("training-results", args=[evaluation.pk])).content.decode()
    assert 'data-testid="rl">+RL<' in page
    compare = client.get(reverse("training-compare", args=[evaluation.pk, policy.pk]))
    assert compare.content.decode().count('data-testid="problem-pair"') == 3
    # and the PRM's lineage page lists the policy it rewarded
    assert models_listed(client, prm, "rewarded", "ul") == ["base +rl@v1"]
