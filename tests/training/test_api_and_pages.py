"""The training API and pages: start jobs, read the loss curve, the results and the lineage;
errors name the field; only the project's researchers and admins get in."""

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create
from annotation.problems.models import Problem
from annotation.training.models import TrainingLogEntry
from annotation.training.services import trained_model_register, training_log_write
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
    sft = trained_model_register(job=Job.objects.get(pk=job["id"]), path="/s")
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


@pytest.fixture
def grpo(project, setup):  # type: ignore[no-untyped-def]
    """What a GRPO request names: a base, a PRM of the project, a sample prompt."""
    prm = model_config_create(
        project=project,
        name="prm",
        kind="transformers",
        path_or_endpoint="/p",
        scorer_head="math-shepherd",
    )
    return {
        "project": project.pk,
        "method": "grpo",
        "base": setup["base"].pk,
        "name": "base +rl",
        "prompt": prompt(project, PromptPurpose.SAMPLE).template_id,
        "export": setup["journeys"].pk,
        "split": "train",
        "reward": {"outcome_weight": 1, "process_weight": 0.5, "aggregation": "product"},
        "reward_model": prm.pk,
        "hyperparameters": {"group_size": 4, "batch_size": 4, "gradient_accumulation": 2},
    }


def test_the_api_starts_a_grpo_job_on_an_exports_split(client, project, researcher, grpo) -> None:
    client.force_login(researcher)
    # when
    response = post(client, "/api/training/jobs/", grpo)
    # then the job is frozen with its problems (the nine of the train side), reward and PRM
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    problems = Problem.objects.filter(pk__in=job.params["problems"]["problem_ids"])
    assert job.kind == JobKind.TRAIN_GRPO
    assert sorted(problems.values_list("external_id", flat=True)) == sorted(
        f"p{i}" for i in range(9)
    )
    assert job.params["problems"]["split"] == "train"
    assert job.params["reward"] == {
        "outcome_weight": 1.0,
        "process_weight": 0.5,
        "aggregation": "product",
    }
    assert job.params["reward_model"]["name"] == "prm"
    assert job.params["hyperparameters"]["learning_rate"] == 1e-6  # GRPO's default


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"reward": {"process_weight": -1}}, {"process_weight": ["-1.0 is not between 0 and 100"]}),
        (
            {"reward": {"aggregation": "mean"}},
            {"aggregation": ["'mean' is not one of min, last, product"]},
        ),
        (
            {"reward": {"process_weight": 0.5}, "reward_model": None},
            {"reward_model": ["a process weight above 0 needs a PRM to score steps"]},
        ),
        (
            {"hyperparameters": {"group_size": 3}},
            {
                "group_size": [
                    "3 must divide the completions of an optimizer step (batch_size x "
                    "gradient_accumulation = 16), so that every problem's group is whole"
                ]
            },
        ),
        ({"split": "validation"}, {"split": ['"validation" is not a valid choice.']}),
        ({"prompt": None}, {"prompt": ["This field is required."]}),
        (
            {"export": None},
            {"export": ["give either an export (one side of its split) or problem_ids"]},
        ),
        (
            {"hyperparameters": {"group_size": 4, "batch_size": 8, "gradient_accumulation": 8}},
            {
                "problem_ids": [
                    "9 problems, but a step trains on 16 (batch_size x gradient_accumulation / "
                    "group_size); choose more"
                ]
            },
        ),
    ],
    ids=["weight", "aggregation", "no-prm", "group", "split", "prompt", "no-problems", "too-few"],
)
def test_grpo_errors_name_the_field(client, researcher, grpo, change, errors) -> None:
    client.force_login(researcher)
    body = {**grpo, **{k: v for k, v in change.items() if v is not None}}
    for key in [k for k, v in change.items() if v is None]:
        body.pop(key)
    response = post(client, "/api/training/jobs/", body)
    assert (response.status_code, response.json()) == (400, errors)
    assert not Job.objects.filter(kind=JobKind.TRAIN_GRPO).exists()


def test_grpo_refuses_a_reward_model_that_is_not_a_prm_of_the_project(
    client, project, researcher, setup, grpo
) -> None:
    client.force_login(researcher)
    judge = model_config_create(
        project=project,
        name="judge",
        kind="transformers",
        path_or_endpoint="/j",
        scorer_head="judge",
    )
    other = ProjectFactory()
    foreign = model_config_create(
        project=other,
        name="prm",
        kind="transformers",
        path_or_endpoint="/p",
        scorer_head="math-shepherd",
    )
    MembershipFactory(project=other, user=researcher, role=Role.RESEARCHER)
    not_prm = post(client, "/api/training/jobs/", {**grpo, "reward_model": judge.pk})
    outside = post(client, "/api/training/jobs/", {**grpo, "reward_model": foreign.pk})
    assert not_prm.json() == {
        "reward_model": ["judge is not a PRM; choose a math-shepherd or qwen-prm scorer"]
    }
    assert outside.json() == {
        "reward_model": [f"model {foreign.pk} is not in project {project.name}"]
    }


def test_a_grpo_run_page_plots_rewards_kl_and_length_and_shows_what_a_step_rewarded(
    client, project, researcher, grpo
) -> None:
    # given a GRPO run at its second logging step, each step with a recorded group
    client.force_login(researcher)
    run = Job.objects.get(pk=post(client, "/api/training/jobs/", grpo).json()["id"])
    Job.objects.filter(pk=run.pk).update(status="running", done=2, total=4)
    record = {
        "problem_id": 1,
        "completion": "2 + 3 = 5.\n\n\\boxed{5}",
        "answer": "5",
        "truth": "5",
        "correct": True,
        "steps": ["2 + 3 = 5.", "\\boxed{5}"],
        "step_scores": [0.9, 0.5],
        "outcome": 1.0,
        "process": 0.45,
        "reward": 1.225,
    }
    training_log_write(
        run,
        [
            TrainingLogEntry(
                step=s,
                loss=0.1,
                learning_rate=1e-6,
                reward=s / 2,
                reward_std=0.2,
                reward_outcome=s / 4,
                reward_process=s / 8,
                kl=0.01 * s,
                response_length=20.0 + s,
                reward_samples=[{**record, "reward": float(s)}],
                attempt_seconds=s,
            )
            for s in (1, 2)
        ],
    )
    # when
    page = client.get(reverse("training-job", args=[run.pk])).content.decode()
    first = client.get(reverse("training-job", args=[run.pk]) + "?step=1").content.decode()
    log = client.get(f"/api/training/jobs/{run.pk}/log/").json()
    rewards = client.get(f"/api/training/jobs/{run.pk}/rewards/?step=1").json()
    # then six curves: reward (with its two parts), spread, KL, length, loss, learning rate
    assert page.count("<svg") == 6
    assert "What step 2 rewarded" in page and 'data-reward="2.0"' in page
    assert "What step 1 rewarded" in first and 'data-reward="1.0"' in first
    assert [(e["reward"], e["kl"], e["response_length"]) for e in log["log"]] == [
        (0.5, 0.01, 21.0),
        (1.0, 0.02, 22.0),
    ]
    assert rewards == {"job": run.pk, "step": 1, "completions": [{**record, "reward": 1.0}]}
    missing = client.get(f"/api/training/jobs/{run.pk}/rewards/?step=9")
    assert missing.status_code == 404


def test_the_grpo_form_shows_its_defaults_and_starts_a_job(
    client, project, researcher, setup, grpo
) -> None:
    client.force_login(researcher)
    url = reverse("training-start", args=[project.pk, "grpo"])
    form = client.get(url).content.decode()
    assert 'name="learning_rate" value="1e-06"' in form
    assert 'name="beta" value="0.04"' in form and 'name="group_size" value="4"' in form
    assert 'name="max_length"' not in form  # GRPO caps the completions instead
    data = {
        "name": "form +rl",
        "base": setup["base"].pk,
        "prompt": grpo["prompt"],
        "export": setup["journeys"].pk,
        "split": "train",
        "limit": 20,
        "outcome_weight": 1.0,
        "process_weight": 0.0,
        "aggregation": "last",
        "epochs": 1,
        "learning_rate": 1e-6,
        "batch_size": 4,
        "gradient_accumulation": 1,
        "group_size": 2,
        "max_new_tokens": 64,
        "lora_r": 16,
        "lora_alpha": 32,
        "seed": 0,
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_steps": 10,
        "beta": 0.0,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    job = Job.objects.get(kind=JobKind.TRAIN_GRPO)
    assert (job.params["reward_model"], job.params["hyperparameters"]["group_size"]) == (None, 2)
    assert job.params["reward"]["aggregation"] == "last"
