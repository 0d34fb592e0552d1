"""Starting training and evaluation jobs: what they record, what they refuse (with the field
to change), the project boundary, and the split guard that keeps training problems out."""

import pytest
from django.core.exceptions import ValidationError

from annotation.jobs.kinds import queue_for
from annotation.jobs.models import JobKind
from annotation.jobs.params import ModelSnapshot, job_params
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import model_config_create
from annotation.problems.models import Problem
from annotation.training.models import ModelLineage
from annotation.training.params import EvaluationParams, TrainingParams
from annotation.training.services import (
    evaluation_job_start,
    trained_model_register,
    training_job_start,
)
from tests.factories import ProjectFactory
from tests.support.data import make_problems, prompt
from tests.support.training import HELD_OUT, export_now, training_project


def config(project, name: str = "base", **fields) -> ModelConfig:  # type: ignore[no-untyped-def]
    fields.setdefault("kind", "transformers")
    fields.setdefault("path_or_endpoint", f"/models/{name}")
    return model_config_create(project=project, name=name, **fields)


@pytest.fixture
def journeys(project, store):  # type: ignore[no-untyped-def]
    training_project(project)
    return export_now(project, "sft-journey")


def start_sft(project, export, base, **overrides):  # type: ignore[no-untyped-def]
    values = {"name": "new sft", "hyperparameters": {"batch_size": 2}, **overrides}
    return training_job_start(
        project=project, user=None, method="sft", export=export, base=base, **values
    )


def error_of(call) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as error:
        call()
    return error.value.message_dict


def test_a_training_job_freezes_its_data_model_and_hyperparameters(project, journeys) -> None:
    # given
    base = config(project, dtype="float32")
    # when
    job = start_sft(project, journeys, base)
    # then
    params = job_params(job, TrainingParams)
    manifest = journeys.result["manifest"]
    assert (job.kind, queue_for(job.kind), job.model_version) == (
        JobKind.TRAIN_SFT,
        "gpu",
        "base@v1",
    )
    assert params.export.job == journeys.pk
    assert params.export.sha256 == manifest["splits"]["train"]["sha256"]
    assert (params.export.rows, params.export.test_problems) == (9, 3)
    assert len(params.export.manifest_sha256) == 64
    assert params.base == ModelSnapshot.of(base)
    assert (params.base.path_or_endpoint, params.base.id) == ("/models/base", base.pk)
    assert params.hyperparameters.batch_size == 2
    assert params.hyperparameters.learning_rate == 2e-5  # the SFT default


def test_training_refuses_what_cannot_work_naming_the_field(
    project, journeys, loopback_endpoints
) -> None:
    base = config(project)
    other = ProjectFactory(name="other")
    foreign = config(other, "foreign")
    assert error_of(lambda: start_sft(project, journeys, foreign)) == {
        "base": [f"model {foreign.pk} is not in project {project.name}"]
    }
    assert error_of(lambda: start_sft(other, journeys, config(other, "theirs"))) == {
        "export": [f"job {journeys.pk} is not in project other"]
    }
    endpoint = config(project, "endpoint", kind="openai", path_or_endpoint="http://127.0.0.1:1/v1")
    assert error_of(lambda: start_sft(project, journeys, endpoint)) == {
        "base": ["endpoint is served by an endpoint; training needs a model directory"]
    }
    scorer = config(project, "scorer", scorer_head="qwen-prm")
    assert error_of(lambda: start_sft(project, journeys, scorer)) == {
        "base": ["scorer is a scorer; sft trains a generator"]
    }
    assert error_of(lambda: start_sft(project, journeys, base, name="base")) == {
        "name": ["a model named 'base' exists; choose another name"]
    }
    assert error_of(
        lambda: start_sft(project, journeys, base, hyperparameters={"batch_size": 0})
    ) == {"batch_size": ["0 must be at least 1"]}
    dpo = export_now(project, "dpo")
    assert error_of(lambda: start_sft(project, dpo, base)) == {
        "export": [f"export {dpo.pk} is in format 'dpo'; sft trains on sft-shortcut, sft-journey"]
    }
    labels = export_now(
        project, "trl-stepwise", grades="annotator", annotator=f"grader-{project.pk}"
    )
    assert error_of(
        lambda: training_job_start(
            project=project, user=None, method="prm", export=labels, base=base, name="p"
        )
    ) == {"head": ["choose the PRM head: math-shepherd or qwen-prm"]}


def test_registering_a_run_twice_gives_the_one_model_config(project, journeys) -> None:
    # given a finished run
    job = start_sft(project, journeys, config(project, default_sampling={"max_tokens": 9}))
    # when its model is registered twice (a worker died after the first time)
    first = trained_model_register(job=job, path="/store/job/model")
    second = trained_model_register(job=job, path="/store/job/model")
    # then
    assert first == second
    assert (first.name, first.path_or_endpoint, first.default_sampling) == (
        "new sft",
        "/store/job/model",
        {"max_tokens": 9},
    )
    lineage = ModelLineage.objects.get(config=first)
    assert (lineage.parent.name, lineage.job, lineage.export_job, lineage.train_rows) == (
        "base",
        job,
        journeys,
        9,
    )


def test_evaluation_takes_the_test_split_of_an_export(project, journeys) -> None:
    # when
    job = evaluation_job_start(
        project=project,
        user=None,
        models=[config(project)],
        prompt=prompt(project, PromptPurpose.SAMPLE),
        export=journeys,
        k=2,
    )
    # then
    params = job_params(job, EvaluationParams)
    held = Problem.objects.filter(project=project, external_id__in=HELD_OUT)
    assert sorted(params.problem_ids) == sorted(p.pk for p in held)
    assert (params.held_out.source, params.held_out.export, job.total) == ("export", journeys.pk, 3)
    assert (job.kind, queue_for(job.kind)) == (JobKind.EVALUATE, "gpu")


def test_the_split_guard_keeps_problems_a_model_was_trained_on_out(project, journeys) -> None:
    # given a model trained (through an SFT model) on the journeys export, and the base
    base = config(project)
    sft = trained_model_register(job=start_sft(project, journeys, base, name="sft"), path="/m")
    dpo_job = training_job_start(
        project=project,
        user=None,
        method="dpo",
        export=export_now(project, "dpo"),
        base=sft,
        name="dpo",
    )
    dpo = trained_model_register(job=dpo_job, path="/m2")
    solve = prompt(project, PromptPurpose.SAMPLE)
    every = list(Problem.objects.filter(project=project).values_list("pk", flat=True))
    # when every problem of the project is asked for
    job = evaluation_job_start(
        project=project, user=None, models=[base, dpo], prompt=solve, problem_ids=every
    )
    # then only the held-out ones are evaluated
    params = job_params(job, EvaluationParams)
    held = Problem.objects.filter(project=project, external_id__in=HELD_OUT)
    assert sorted(params.problem_ids) == sorted(p.pk for p in held)
    assert params.held_out.excluded_training_problems == 9
    # and asking only for training problems is refused
    train = [pk for pk in every if pk not in params.problem_ids]
    assert error_of(
        lambda: evaluation_job_start(
            project=project, user=None, models=[dpo], prompt=solve, problem_ids=train
        )
    ) == {
        "problem_ids": [
            "all 9 problems are on the train side of an export these models were trained "
            "on; evaluate on its test split"
        ]
    }
    # while the base model alone may be evaluated on them
    assert (
        evaluation_job_start(
            project=project, user=None, models=[base], prompt=solve, problem_ids=train
        ).total
        == 9
    )


def test_evaluation_refuses_what_cannot_work_naming_the_field(project) -> None:
    other = ProjectFactory(name="other")
    solve = prompt(project, PromptPurpose.SAMPLE)
    base = config(project)
    mine = [p.pk for p in make_problems(project, 2)]
    theirs = [p.pk for p in make_problems(other, 1)]

    def evaluate(**values):  # type: ignore[no-untyped-def]
        values = {"models": [base], "problem_ids": mine, **values}
        return lambda: evaluation_job_start(project=project, user=None, prompt=solve, **values)

    assert error_of(evaluate(problem_ids=theirs)) == {
        "problem_ids": [f"problem {theirs[0]} is not in project {project.name}"]
    }
    foreign = config(other, "x")
    assert error_of(evaluate(models=[foreign], problem_ids=theirs)) == {
        "models": [f"model {foreign.pk} is not in project {project.name}"]
    }
    assert error_of(evaluate(models=[base, base])) == {"models": ["a model is listed twice"]}
    assert error_of(evaluate(k=0)) == {"k": ["k must be between 1 and 64, got 0"]}


def test_an_export_whose_files_are_gone_is_refused(project, journeys) -> None:
    # given the export's files were removed from storage
    from django.core.files.storage import default_storage

    for name in journeys.result["files"].values():
        default_storage.delete(name)
    # when / then
    assert error_of(lambda: start_sft(project, journeys, config(project))) == {
        "export": [f"the files of export {journeys.pk} are gone from storage; export again"]
    }
