"""The training API and pages: start jobs, read the loss curve, the results and the lineage;
errors name the field; only the project's researchers and admins get in."""

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create
from annotation.training.models import TrainingLogEntry
from annotation.training.services import register_trained_model, training_log_write
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory, UserFactory
from tests.support.data import prompt
from tests.support.training import export_now, training_project


@pytest.fixture
def researcher(project):  # type: ignore[no-untyped-def]
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    return user


@pytest.fixture
def setup(project, store):  # type: ignore[no-untyped-def]
    training_project(project)
    base = model_config_create(
        project=project, name="base", kind="transformers", path_or_endpoint="/m"
    )
    return {"base": base, "journeys": export_now(project, "sft-journey")}


def post(client, url: str, data: dict):  # type: ignore[no-untyped-def]
    return client.post(url, data, content_type="application/json")


def test_the_api_starts_a_training_job(client, project, researcher, setup) -> None:
    client.force_login(researcher)
    # when
    response = post(
        client,
        "/api/training/jobs/",
        {
            "project": project.pk,
            "method": "sft",
            "export": setup["journeys"].pk,
            "base": setup["base"].pk,
            "name": "journey sft",
            "hyperparameters": {"epochs": 2, "lora": True},
        },
    )
    # then
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.params["hyperparameters"]["epochs"], job.params["name"]) == (
        JobKind.TRAIN_SFT,
        2.0,
        "journey sft",
    )
    assert job.params["hyperparameters"]["lora"] is True


def test_api_errors_name_the_field(client, project, researcher, setup) -> None:
    client.force_login(researcher)
    start = {
        "project": project.pk,
        "method": "sft",
        "export": setup["journeys"].pk,
        "base": setup["base"].pk,
        "name": "x",
    }
    bad = post(client, "/api/training/jobs/", {**start, "hyperparameters": {"epoch": 2}})
    assert (bad.status_code, list(bad.json())) == (400, ["epoch"])
    other = ProjectFactory()
    ProblemFactory(project=other)  # an export with no rows fails
    foreign = export_now(other, "math")
    wrong = post(client, "/api/training/jobs/", {**start, "export": foreign.pk})
    assert wrong.status_code == 400
    assert wrong.json() == {"export": [f"job {foreign.pk} is not in project {project.name}"]}
    both = post(
        client,
        "/api/training/evaluations/",
        {
            "project": project.pk,
            "models": [setup["base"].pk],
            "prompt": prompt(project, PromptPurpose.SAMPLE).template_id,
            "export": setup["journeys"].pk,
            "problem_ids": [1],
        },
    )
    assert both.json() == {"export": ["give either an export (its test split) or problem_ids"]}


@pytest.mark.parametrize(("role", "status"), [(Role.ANNOTATOR, 403), (None, 404)])
def test_only_researchers_start_training(client, project, setup, role, status) -> None:
    user = UserFactory()
    if role is not None:
        MembershipFactory(project=project, user=user, role=role)
    client.force_login(user)
    response = post(
        client,
        "/api/training/jobs/",
        {
            "project": project.pk,
            "method": "sft",
            "export": setup["journeys"].pk,
            "base": setup["base"].pk,
            "name": "x",
        },
    )
    assert response.status_code == status
    assert client.get(reverse("training-home", args=[project.pk])).status_code == status


def test_the_api_starts_an_evaluation_and_serves_its_results(
    client, project, researcher, setup
) -> None:
    client.force_login(researcher)
    response = post(
        client,
        "/api/training/evaluations/",
        {
            "project": project.pk,
            "models": [setup["base"].pk],
            "prompt": prompt(project, PromptPurpose.SAMPLE).template_id,
            "export": setup["journeys"].pk,
            "k": 2,
        },
    )
    assert response.status_code == 202, response.content
    results = client.get(f"/api/training/evaluations/{response.json()['id']}/results/").json()
    assert (results["problems"], results["rows"][0]["model"], results["rows"][0]["samples"]) == (
        3,
        "base@v1",
        0,
    )


def test_a_run_page_plots_the_loss_and_tells_the_time_left(
    client, project, researcher, setup
) -> None:
    # given a run at step 20 of 100 whose attempt made 20 steps in 10 s
    client.force_login(researcher)
    job = post(
        client,
        "/api/training/jobs/",
        {
            "project": project.pk,
            "method": "sft",
            "export": setup["journeys"].pk,
            "base": setup["base"].pk,
            "name": "running",
        },
    ).json()
    run = Job.objects.get(pk=job["id"])
    Job.objects.filter(pk=run.pk).update(status="running", done=20, total=100)
    training_log_write(
        run,
        [
            TrainingLogEntry(step=s, loss=3.0 - s / 10, learning_rate=1e-5, attempt_seconds=s / 2)
            for s in (10, 20)
        ],
    )
    # when
    page = client.get(reverse("training-job", args=[run.pk])).content.decode()
    log = client.get(f"/api/training/jobs/{run.pk}/log/").json()
    # then
    assert page.count("<svg") == 2
    assert 'data-testid="eta">about 40 s left' in page
    assert (log["step"], log["total"], log["eta_seconds"]) == (20, 100, 40.0)
    assert [e["loss"] for e in log["log"]] == [2.0, 1.0]


def test_the_lineage_api_follows_the_chain(client, project, researcher, setup) -> None:
    client.force_login(researcher)
    job = post(
        client,
        "/api/training/jobs/",
        {
            "project": project.pk,
            "method": "sft",
            "export": setup["journeys"].pk,
            "base": setup["base"].pk,
            "name": "sft",
        },
    ).json()
    sft = register_trained_model(job=Job.objects.get(pk=job["id"]), path="/s")
    up = client.get(f"/api/training/models/{sft.pk}/lineage/").json()
    down = client.get(f"/api/training/models/{setup['base'].pk}/lineage/").json()
    assert [n["model"] for n in up["ancestry"]] == ["base@v1", "sft@v1"]
    assert up["ancestry"][1]["lineage"]["export"] == setup["journeys"].pk
    assert [n["model"] for n in down["descendants"]] == ["sft@v1"]


def test_the_start_form_shows_the_method_defaults_and_starts_a_job(
    client, project, researcher, setup
) -> None:
    client.force_login(researcher)
    url = reverse("training-start", args=[project.pk, "dpo"])
    form = client.get(url).content.decode()
    assert 'name="learning_rate" value="5e-07"' in form
    assert 'name="beta" value="0.1"' in form
    dpo = export_now(project, "dpo")
    data = {
        "export": dpo.pk,
        "base": setup["base"].pk,
        "name": "dpo run",
        "epochs": 1,
        "learning_rate": 1e-6,
        "batch_size": 2,
        "gradient_accumulation": 1,
        "max_length": 512,
        "lora_r": 16,
        "lora_alpha": 32,
        "seed": 0,
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_steps": 10,
        "beta": 0.2,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    job = Job.objects.get(kind=JobKind.TRAIN_DPO)
    assert response.url == reverse("training-job", args=[job.pk])
    assert (job.params["hyperparameters"]["beta"], job.params["hyperparameters"]["lora"]) == (
        0.2,
        False,
    )
