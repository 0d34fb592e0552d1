"""Training runs in this process (no worker): SFT, DPO from the SFT model, PRM fine-tuning
for both scorer heads, LoRA merged into the saved model."""

from pathlib import Path

import pytest

from algorithms.training import Hyperparameters, optimizer_steps
from annotation.jobs.models import Job, JobStatus
from annotation.jobs.params import ModelSnapshot, job_params
from annotation.jobs.services import job_claim
from annotation.llm.models import ModelConfig
from annotation.training.models import ModelLineage, TrainingLogEntry
from annotation.training.services import training_job_start
from tests.support.training import FAST, base_config, export_now, run_now, training_project
from workers.runners.common import load_generator, load_scorer

pytestmark = pytest.mark.models


def test_sft_run_registers_a_generator_with_its_lineage(project, store: Path) -> None:
    # given nine training problems (three are held out) and a base model
    training_project(project)
    export = export_now(project, "sft-journey")
    base = base_config(project)
    # when
    job = run_now(
        training_job_start(
            project=project,
            user=None,
            method="sft",
            export=export,
            base=base,
            name="journey sft",
            hyperparameters=FAST,
        )
    )
    # then the run took the steps its rows need and registered a generator
    steps = optimizer_steps(9, Hyperparameters(**FAST))
    assert (job.status, job.result["global_step"], steps) == (JobStatus.SUCCEEDED, 5, 5)
    config = ModelConfig.objects.get(pk=job.result["model_config"])
    assert (config.name, config.kind, config.scorer_head) == ("journey sft", "transformers", "")
    assert config.path_or_endpoint == str(store / f"job-{job.pk}" / "model")
    assert config.default_sampling == base.default_sampling
    lineage = ModelLineage.objects.get(config=config)
    manifest = export.result["manifest"]
    assert (lineage.parent, lineage.method, lineage.job, lineage.export_job) == (
        base,
        "sft",
        job,
        export,
    )
    assert lineage.train_file_sha256 == manifest["splits"]["train"]["sha256"]
    assert lineage.train_rows == 9
    assert lineage.hyperparameters["learning_rate"] == 1e-3
    assert list(TrainingLogEntry.objects.filter(job=job).values_list("step", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
    ]
    # and the new model generates
    outputs = load_generator(ModelSnapshot.of(config)).generate(
        ["Ann has 2 apples."], base_params()
    )
    assert len(outputs[0]) == 1


def base_params():  # type: ignore[no-untyped-def]
    from algorithms.sampling import SamplingParams

    return SamplingParams(max_tokens=8, seed=0)


def test_dpo_trains_from_the_sft_model(project, store: Path) -> None:
    # given an SFT model of the project
    training_project(project)
    sft = run_now(
        training_job_start(
            project=project,
            user=None,
            method="sft",
            export=export_now(project, "sft-shortcut"),
            base=base_config(project),
            name="shortcut sft",
            hyperparameters=FAST,
        )
    )
    sft_model = ModelConfig.objects.get(pk=sft.result["model_config"])
    # when DPO starts from it
    dpo = run_now(
        training_job_start(
            project=project,
            user=None,
            method="dpo",
            export=export_now(project, "dpo", pairs_per_problem=1),
            base=sft_model,
            name="shortcut sft + dpo",
            hyperparameters={**FAST, "learning_rate": 1e-5},
        )
    )
    # then its lineage goes back to the base through the SFT model
    model = ModelConfig.objects.get(pk=dpo.result["model_config"])
    assert model.lineage.parent == sft_model
    assert sft_model.lineage.parent.name == "tiny base"
    assert dpo.result["global_step"] == 5  # nine pairs, batches of two


@pytest.mark.parametrize("head", ["math-shepherd", "qwen-prm"])
def test_prm_run_loads_in_the_existing_scorer_and_learns_the_labels(
    project, store: Path, head: str
) -> None:
    # given human step labels (right samples +1 +1, wrong ones +1 -1)
    training_project(project)
    export = export_now(
        project, "trl-stepwise", grades="annotator", annotator=f"grader-{project.pk}"
    )
    # when a PRM is trained on them
    job = run_now(
        training_job_start(
            project=project,
            user=None,
            method="prm",
            export=export,
            base=base_config(project),
            name=f"prm {head}",
            head=head,
            hyperparameters={**FAST, "epochs": 6.0, "batch_size": 6},
        )
    )
    # then the scorer of its model config scores the training steps the way they were labelled
    config = ModelConfig.objects.get(pk=job.result["model_config"])
    assert (config.kind, config.scorer_head) == ("transformers", head)
    from workers.backends.base import ScoreItem

    scorer = load_scorer(ModelSnapshot.of(config))
    right, wrong = scorer.score(
        [
            ScoreItem(
                "Ann has 2 apples and gets 3 more. How many apples?",
                ["2 + 3 = 5.", "The answer is \\boxed{5}."],
            ),
            ScoreItem(
                "Ann has 2 apples and gets 3 more. How many apples?",
                ["2 + 3 = 6.", "I guess the answer is \\boxed{6}."],
            ),
        ]
    )
    assert right[1] > 0.5 > wrong[1]
    losses = list(TrainingLogEntry.objects.filter(job=job).values_list("loss", flat=True))
    assert losses[-1] < losses[0]


def test_lora_is_merged_into_the_saved_model(project, store: Path) -> None:
    # given
    training_project(project)
    # when
    job = run_now(
        training_job_start(
            project=project,
            user=None,
            method="sft",
            export=export_now(project, "sft-journey"),
            base=base_config(project),
            name="lora sft",
            hyperparameters={**FAST, "lora": True, "lora_r": 4, "lora_alpha": 8},
        )
    )
    # then the saved model is a plain model: no adapter files, the base's architecture
    saved = Path(job.result["path"])
    assert not (saved / "adapter_config.json").exists()
    import json

    assert json.loads((saved / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]


def test_cancel_stops_at_the_next_step_and_keeps_a_checkpoint(
    transactional_db: None, store: Path
) -> None:
    # given a long run whose cancel is asked once it has made three steps
    import threading
    import time

    from annotation.jobs.services import JobCancelled, job_cancel_request, job_mark_cancelled
    from annotation.training.params import TrainingParams
    from tests.factories import ProjectFactory
    from tests.support.worker import purge_broker
    from workers.runners.train import run_train

    project = ProjectFactory()
    training_project(project)
    job = training_job_start(
        project=project,
        user=None,
        method="sft",
        export=export_now(project, "sft-journey"),
        base=base_config(project),
        name="cancelled sft",
        hyperparameters={**FAST, "batch_size": 1, "epochs": 8.0, "save_steps": 1000},
    )
    purge_broker()  # nobody else runs it
    claimed = job_claim(job.pk)
    assert claimed is not None

    def cancel_after_three_steps() -> None:
        from django.db import connection

        try:
            while not Job.objects.filter(pk=job.pk, done__gte=3).exists():
                time.sleep(0.01)
            job_cancel_request(Job.objects.get(pk=job.pk))
        finally:
            connection.close()  # this thread's own

    watcher = threading.Thread(target=cancel_after_three_steps)
    watcher.start()
    # when the run goes on
    with pytest.raises(JobCancelled):
        run_train(claimed)
    job_mark_cancelled(claimed)
    watcher.join()
    # then it stopped at the next step, with a checkpoint of that step kept and no model made
    job.refresh_from_db()
    step = job.result["global_step"]
    assert job.status == JobStatus.CANCELLED
    assert 3 <= step < optimizer_steps(9, job_params(job, TrainingParams).hyperparameters)
    checkpoint = Path(job.result["checkpoint"])
    assert checkpoint.name == f"checkpoint-{step}"
    assert (checkpoint / "trainer_state.json").exists()
    assert not ModelConfig.objects.filter(name="cancelled sft").exists()


def test_the_accelerate_launcher_trains_in_a_child_process(
    transactional_db: None, store: Path, settings, monkeypatch
) -> None:
    # given training set to run under `accelerate launch` (one process: this machine's CPU)
    from tests.factories import ProjectFactory
    from tests.support.worker import purge_broker, test_database_url

    settings.STEPWISE_TRAIN_LAUNCHER = "accelerate"
    settings.STEPWISE_TRAIN_PROCESSES = 1
    for name, value in {
        "DATABASE_URL": test_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STEPWISE_MODEL_STORE": str(store),
        "DB_CONN_MAX_AGE": "0",
    }.items():
        monkeypatch.setenv(name, value)
    project = ProjectFactory()
    training_project(project)
    job = training_job_start(
        project=project,
        user=None,
        method="sft",
        export=export_now(project, "sft-journey"),
        base=base_config(project),
        name="launched sft",
        hyperparameters={**FAST, "max_steps": 3},
    )
    purge_broker()  # nobody else runs it
    # when
    job = run_now(job)
    # then the child trained and logged, and this process registered the model
    assert (job.status, job.result["global_step"]) == (JobStatus.SUCCEEDED, 3)
    assert list(TrainingLogEntry.objects.filter(job=job).values_list("step", flat=True)) == [
        1,
        2,
        3,
    ]
    assert ModelConfig.objects.get(pk=job.result["model_config"]).lineage.job == job
    assert (store / f"job-{job.pk}" / "train.log").exists()  # the child's output
