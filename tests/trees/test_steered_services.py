"""Starting proposal-critique and policy-critic jobs (service and API), and writing finished
loops: stored once, whatever runs again."""

from dataclasses import asdict

import pytest
from django.core.exceptions import ValidationError

from algorithms import policy_critic, proposal_critique
from algorithms.answers import extract_answer
from algorithms.steering import Limits, Response
from algorithms.tree_search import ProblemSpec
from annotation.core.models import Role
from annotation.grading.models import Grade
from annotation.grading.services import judge_source
from annotation.jobs.kinds import queue_for
from annotation.jobs.models import Job, JobKind
from annotation.llm.services import model_config_create
from annotation.problems.models import Trace
from annotation.trees.models import TreeNode
from annotation.trees.steered import (
    SteeredOutcome,
    policy_critic_job_start,
    steered_results_write,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def generator(project, name="gen", **extra):
    return model_config_create(
        project=project,
        name=name,
        kind="transformers",
        path_or_endpoint="/nowhere",
        default_sampling={"temperature": 0.5, "max_tokens": 64},
        **extra,
    )


def researcher_client(client, project):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    client.force_login(user)
    return user


def test_the_api_starts_a_proposal_critique_job_on_the_gpu_queue(problem, client):
    # given
    project = problem.project
    researcher_client(client, project)
    model = generator(project)
    # when
    response = client.post(
        "/api/trees/proposal-critique/",
        {
            "project": project.pk,
            "model": model.pk,
            "problem_ids": [problem.pk],
            "max_steps": 6,
            "max_backtracks": 1,
            "max_tokens": 900,
            "sampling": {"max_tokens": 32},
        },
        content_type="application/json",
    )
    # then
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, queue_for(job.kind), job.total) == (JobKind.PROPOSAL_CRITIQUE, "gpu", 1)
    assert (job.model_version, job.prompt_version) == ("gen@v1", "proposal-critique v1")
    params = job.params
    assert {k: params[k] for k in ("problem_ids", "max_steps", "max_backtracks", "max_tokens")} == {
        "problem_ids": [problem.pk],
        "max_steps": 6,
        "max_backtracks": 1,
        "max_tokens": 900,
    }
    assert params["prompts"] == asdict(proposal_critique.PROMPTS)
    assert params["sampling"] == {
        "temperature": 0.5,
        "top_p": 1.0,
        "max_tokens": 32,
        "seed": None,
        "stop": [],
    }


def test_the_api_starts_a_policy_critic_job_with_a_critic_of_its_own(problem, client):
    # given
    project = problem.project
    researcher_client(client, project)
    policy, critic = generator(project), generator(project, name="critic")
    # when
    response = client.post(
        "/api/trees/policy-critic/",
        {
            "project": project.pk,
            "model": policy.pk,
            "critic": critic.pk,
            "problem_ids": [problem.pk],
            "critic_sampling": {"temperature": 0},
        },
        content_type="application/json",
    )
    # then
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.model_version) == (JobKind.POLICY_CRITIC, "gen@v1 + critic@v1")
    assert (job.params["critic"]["id"], job.params["critic_sampling"]["temperature"]) == (
        critic.pk,
        0,
    )
    assert job.params["prompts"] == asdict(policy_critic.PROMPTS)


@pytest.mark.parametrize(
    ("url", "change", "errors"),
    [
        (
            "/api/trees/proposal-critique/",
            {"max_steps": 0},
            {"max_steps": ["max_steps must be between 1 and 256, got 0"]},
        ),
        (
            "/api/trees/proposal-critique/",
            {"max_backtracks": -1},
            {"max_backtracks": ["max_backtracks must be between 0 and 256, got -1"]},
        ),
        (
            "/api/trees/proposal-critique/",
            {"prompt_version": "proposal-critique v9"},
            {"prompt_version": ['"proposal-critique v9" is not a valid choice.']},
        ),
        (
            "/api/trees/proposal-critique/",
            {"sampling": {"beams": 2}},
            {"sampling": ["unknown keys beams; use max_tokens, seed, stop, temperature, top_p"]},
        ),
        (
            "/api/trees/policy-critic/",
            {"critic_sampling": {"top_p": 2}},
            {"critic_sampling": ["top_p must be in (0, 1], got 2"]},
        ),
        (
            "/api/trees/policy-critic/",
            {"problem_ids": []},
            {"problem_ids": ["no problems match the filter; widen it"]},
        ),
    ],
    ids=["steps", "backtracks", "version", "sampling", "critic-sampling", "no-problems"],
)
def test_the_api_refuses_bad_parameters_naming_the_field(problem, client, url, change, errors):
    # given
    project = problem.project
    researcher_client(client, project)
    body = {"project": project.pk, "model": generator(project).pk, "problem_ids": [problem.pk]}
    # when
    response = client.post(url, {**body, **change}, content_type="application/json")
    # then
    assert (response.status_code, response.json()) == (400, errors)
    assert not Job.objects.exists()


def test_a_prm_is_no_critic(problem):
    prm = generator(problem.project, name="prm", scorer_head="math-shepherd")
    with pytest.raises(ValidationError) as error:
        policy_critic_job_start(
            project=problem.project,
            user=None,
            model=generator(problem.project),
            critic=prm,
            problem_ids=[problem.pk],
        )
    assert error.value.message_dict == {"critic": ["prm is a PRM scorer; choose a generator"]}


def test_annotators_may_not_start_steered_jobs(problem, client):
    user = UserFactory()
    MembershipFactory(project=problem.project, user=user, role=Role.ANNOTATOR)
    client.force_login(user)
    body = {
        "project": problem.project.pk,
        "model": generator(problem.project).pk,
        "problem_ids": [problem.pk],
    }
    for url in ("/api/trees/proposal-critique/", "/api/trees/policy-critic/"):
        assert client.post(url, body, content_type="application/json").status_code == 403
    assert not Job.objects.exists()


def dialogue(problem):
    """A finished policy-critic dialogue: a step the critic rejects, then the answer."""
    spec = ProblemSpec(key=str(problem.pk), text=problem.text)
    states = policy_critic.start([spec], Limits(max_steps=4, max_backtracks=1, max_tokens=99))
    for reply in [
        "Try x = 3.",
        "VERDICT: reflect\nREASON: 3 * 3 is 9.",
        "x = 2, so $\\boxed{2}$.",
        "VERDICT: continue\nREASON: Right.",
    ]:
        states = policy_critic.advance(
            states,
            [Response(reply, 1)],
            lambda pairs: [answer == "2" for answer, _ in pairs],
            extract_answer,
        )
    return policy_critic.finish(states[0])


def test_a_finished_loop_is_written_once(problem):
    # given a policy-critic job and a dialogue it finished
    job = policy_critic_job_start(
        project=problem.project,
        user=None,
        model=generator(problem.project),
        problem_ids=[problem.pk],
    )
    outcome = SteeredOutcome(problem, dialogue(problem))
    source = judge_source(job=job, label="critic gen")
    # when it is written twice (a shard done again after its worker was taken for dead)
    first = steered_results_write(job=job, outcomes=[outcome], source=source)
    second = steered_results_write(job=job, outcomes=[outcome], source=source)
    # then
    assert [t.metadata["kind"] for t in first] == ["policy_critic", "shortcut"]
    assert second == []
    assert Trace.objects.filter(job=job).count() == 2
    assert TreeNode.objects.filter(job=job).count() == 3
    assert sorted(Grade.objects.filter(source=source).values_list("score", flat=True)) == [0.0, 1.0]
