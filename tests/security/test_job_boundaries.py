"""A job on project A may name nothing of project B: not a problem, a trace, a model config, a
prompt, a tree job, a run or an export to train on. Refused for every job kind through the API
and the service (400 naming the field, no job row, nothing enqueued); and a job row whose stored
parameters were written to name B's rows fails in the runner with a message, reading and
writing none of them (in a real worker: test_job_boundaries_worker.py).

The two projects are made once for the module (tests/support/rows.py); each test's writes are
rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from algorithms.tree_search import ProblemSpec, Tree
from annotation.core.models import Project, Role
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.services import export_start
from annotation.evaluation.analyses import BestOfNParams, RoundComparisonParams, analysis_start
from annotation.evaluation.services import monte_carlo_job_start
from annotation.jobs.boundary import InputOutsideProject
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import OWNER, ImportParams
from annotation.llm.models import ModelConfig, PromptPurpose, PromptVersion
from annotation.llm.services import (
    expand_job_start,
    model_config_create,
    sample_job_start,
    score_job_start,
)
from annotation.problems.models import Problem, Trace
from annotation.training.services import (
    evaluation_job_start,
    grpo_job_start,
    training_job_start,
)
from annotation.trees.services import (
    long_thought_job_start,
    tree_job_start,
    tree_params,
    tree_round_record,
)
from annotation.trees.steered import policy_critic_job_start, proposal_critique_job_start
from annotation.workspace.access import access_assignment
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.paths import work_path_continue
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory, UserFactory
from tests.factories import trace_with_steps as make_trace
from tests.support.data import prompt
from tests.support.rows import fresh_copy, made_for_the_module
from tests.support.training import export_now, training_project
from workers.runners.sample import run_sample
from workers.tasks import run_job

# Everything a job can name, made in one project ---------------------------------------------


@dataclass(frozen=True)
class Inputs:
    project: Project
    problem: Problem
    trace: Trace
    generator: ModelConfig
    critic: ModelConfig
    scorer: ModelConfig
    sample_prompt: PromptVersion
    expand_prompt: PromptVersion
    rationalize_prompt: PromptVersion
    tree_job: Job
    run: Job
    sft_export: Job  # finished exports to train on (problem p1 held out: a test split)
    dpo_export: Job
    prm_export: Job


def inputs_of(project: Project) -> Inputs:
    problem = ProblemFactory(project=project, text="Solve 3x = 6.", answer="2")
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    tree.add_child(0, "x = 2, so the answer is $\\boxed{2}$.")
    training_project(project, count=2)
    held_out = {"held_out": ("p1",)}
    return Inputs(
        project=project,
        problem=problem,
        trace=make_trace(problem, ["3x = 6.", "x = 2."]),
        generator=model_config_create(
            project=project, name="gen", kind="transformers", path_or_endpoint="/nowhere"
        ),
        critic=model_config_create(
            project=project, name="critic", kind="transformers", path_or_endpoint="/nowhere"
        ),
        scorer=model_config_create(
            project=project,
            name="prm",
            kind="transformers",
            path_or_endpoint="/nowhere",
            scorer_head="math-shepherd",
        ),
        sample_prompt=prompt(project, PromptPurpose.SAMPLE),
        expand_prompt=prompt(project, PromptPurpose.EXPAND),
        rationalize_prompt=prompt(project, PromptPurpose.RATIONALIZE),
        tree_job=tree_round_record(
            project=project, user=None, trees=[(problem.pk, tree)], label="round"
        ),
        run=Job.objects.create(project=project, kind=JobKind.SCORE, status=JobStatus.SUCCEEDED),
        sft_export=export_now(project, "sft-journey", **held_out),
        dpo_export=export_now(project, "dpo", **held_out),
        prm_export=export_now(
            project,
            "trl-stepwise",
            grades="annotator",
            annotator=f"grader-{project.pk}",
            **held_out,
        ),
    )


@dataclass(frozen=True)
class World:
    a: Inputs
    b: Inputs
    user: Any  # an admin of both projects: every access check passes, only the boundary refuses


def world_of_two_projects() -> World:
    a, b = ProjectFactory(name="A"), ProjectFactory(name="B")
    user = UserFactory(username="both")
    for project in (a, b):
        MembershipFactory(project=project, user=user, role=Role.ADMIN)
    return World(inputs_of(a), inputs_of(b), user)


@pytest.fixture(scope="module")
def module_world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The two projects, made once for the module (their exports in a temporary media root)."""
    with (
        override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")),
        made_for_the_module(django_db_blocker, world_of_two_projects) as world,
    ):
        yield world


@pytest.fixture
def world(db: None, module_world: World) -> World:
    return fresh_copy(module_world)


# How each kind is started, through the API and through its service ----------------------------

# GRPO over a single problem: one problem per optimizer step.
GRPO_HYPERPARAMETERS = {"group_size": 4, "batch_size": 4, "gradient_accumulation": 1}
GRPO_REWARD = {"outcome_weight": 1.0, "process_weight": 0.5}

Request = tuple[str, dict[str, Any]]


def template(version: PromptVersion) -> int:
    return version.template_id


API: dict[str, Callable[[Inputs], Request]] = {
    "sample": lambda o: (
        "/api/llm/jobs/",
        {
            "project": o.project.pk,
            "kind": "sample",
            "model": o.generator.pk,
            "prompt": template(o.sample_prompt),
            "problem_ids": [o.problem.pk],
        },
    ),
    "expand": lambda o: (
        "/api/llm/jobs/",
        {
            "project": o.project.pk,
            "kind": "expand",
            "mode": "expand",
            "model": o.generator.pk,
            "prompt": template(o.expand_prompt),
            "scorer": o.scorer.pk,
            "trace_ids": [o.trace.pk],
        },
    ),
    "rationalize": lambda o: (
        "/api/llm/jobs/",
        {
            "project": o.project.pk,
            "kind": "expand",
            "mode": "rationalize",
            "model": o.generator.pk,
            "prompt": template(o.rationalize_prompt),
            "problem_ids": [o.problem.pk],
        },
    ),
    "score": lambda o: (
        "/api/llm/jobs/",
        {
            "project": o.project.pk,
            "kind": "score",
            "scorer": o.scorer.pk,
            "trace_ids": [o.trace.pk],
        },
    ),
    "tree": lambda o: (
        "/api/trees/jobs/",
        {
            "project": o.project.pk,
            "model": o.generator.pk,
            "scorer": o.scorer.pk,
            "problem_ids": [o.problem.pk],
        },
    ),
    "best_of_n": lambda o: (
        "/api/jobs/",
        {"project": o.project.pk, "kind": "best_of_n", "params": {"sample_job": o.tree_job.pk}},
    ),
    "round_comparison": lambda o: (
        "/api/jobs/",
        {
            "project": o.project.pk,
            "kind": "round_comparison",
            "params": {"round_a": o.tree_job.pk, "round_b": o.tree_job.pk},
        },
    ),
    "long_thought": lambda o: (
        "/api/trees/long-thoughts/",
        {"project": o.project.pk, "tree_job": o.tree_job.pk, "rewriter": o.generator.pk},
    ),
    "proposal_critique": lambda o: (
        "/api/trees/proposal-critique/",
        {"project": o.project.pk, "model": o.generator.pk, "problem_ids": [o.problem.pk]},
    ),
    "policy_critic": lambda o: (
        "/api/trees/policy-critic/",
        {
            "project": o.project.pk,
            "model": o.generator.pk,
            "critic": o.critic.pk,
            "problem_ids": [o.problem.pk],
        },
    ),
    "monte_carlo": lambda o: (
        "/api/evaluation/monte-carlo/",
        {
            "project": o.project.pk,
            "model": o.generator.pk,
            "prompt": template(o.sample_prompt),
            "trace_ids": [o.trace.pk],
        },
    ),
    "export": lambda o: (
        "/api/exports/",
        {"project": o.project.pk, "format": "prm800k", "grades": "run", "run": o.run.pk},
    ),
    # an annotator's 'continue from here': the model is the project's continuation model
    "continue": lambda o: (f"/api/work/{continuing(o).pk}/continue", {"version": 1, "position": 0}),
    "train_sft": lambda o: (
        "/api/training/jobs/",
        {
            "project": o.project.pk,
            "method": "sft",
            "export": o.sft_export.pk,
            "base": o.generator.pk,
            "name": "trained",
        },
    ),
    "train_dpo": lambda o: (
        "/api/training/jobs/",
        {
            "project": o.project.pk,
            "method": "dpo",
            "export": o.dpo_export.pk,
            "base": o.generator.pk,
            "name": "trained",
        },
    ),
    "train_prm": lambda o: (
        "/api/training/jobs/",
        {
            "project": o.project.pk,
            "method": "prm",
            "head": "math-shepherd",
            "export": o.prm_export.pk,
            "base": o.generator.pk,
            "name": "trained",
        },
    ),
    "train_grpo": lambda o: (
        "/api/training/jobs/",
        {
            "project": o.project.pk,
            "method": "grpo",
            "base": o.generator.pk,
            "name": "trained",
            "prompt": template(o.sample_prompt),
            "problem_ids": [o.problem.pk],
            "reward": GRPO_REWARD,
            "reward_model": o.scorer.pk,
            "hyperparameters": GRPO_HYPERPARAMETERS,
        },
    ),
    "train_grpo_export": lambda o: (
        "/api/training/jobs/",
        {
            "project": o.project.pk,
            "method": "grpo",
            "base": o.generator.pk,
            "name": "trained",
            "prompt": template(o.sample_prompt),
            "export": o.sft_export.pk,
            "hyperparameters": GRPO_HYPERPARAMETERS,
        },
    ),
    "evaluate": lambda o: (
        "/api/training/evaluations/",
        {
            "project": o.project.pk,
            "models": [o.generator.pk],
            "prompt": template(o.sample_prompt),
            "problem_ids": [o.problem.pk],
        },
    ),
    "evaluate_export": lambda o: (
        "/api/training/evaluations/",
        {
            "project": o.project.pk,
            "models": [o.generator.pk],
            "prompt": template(o.sample_prompt),
            "export": o.sft_export.pk,
        },
    ),
}

SERVICE: dict[str, Callable[[Inputs, Any], Job]] = {
    "sample": lambda o, user: sample_job_start(
        project=o.project,
        user=user,
        model=o.generator,
        prompt=o.sample_prompt,
        problem_ids=[o.problem.pk],
    ),
    "expand": lambda o, user: expand_job_start(
        project=o.project,
        user=user,
        model=o.generator,
        prompt=o.expand_prompt,
        scorer=o.scorer,
        trace_ids=[o.trace.pk],
    ),
    "rationalize": lambda o, user: expand_job_start(
        project=o.project,
        user=user,
        model=o.generator,
        prompt=o.rationalize_prompt,
        mode="rationalize",
        problem_ids=[o.problem.pk],
    ),
    "score": lambda o, user: score_job_start(
        project=o.project, user=user, scorer=o.scorer, trace_ids=[o.trace.pk]
    ),
    "tree": lambda o, user: tree_job_start(
        project=o.project,
        user=user,
        params=tree_params(
            model=o.generator,
            scorer=o.scorer,
            problem_ids=[o.problem.pk],
        ),
    ),
    "best_of_n": lambda o, user: analysis_start(
        project=o.project,
        kind="best_of_n",
        user=user,
        params=BestOfNParams(sample_job=o.tree_job.pk),
    ),
    "round_comparison": lambda o, user: analysis_start(
        project=o.project,
        kind="round_comparison",
        user=user,
        params=RoundComparisonParams(round_a=o.tree_job.pk, round_b=o.tree_job.pk),
    ),
    "long_thought": lambda o, user: long_thought_job_start(
        project=o.project, user=user, tree_job=o.tree_job, rewriter=o.generator
    ),
    "proposal_critique": lambda o, user: proposal_critique_job_start(
        project=o.project, user=user, model=o.generator, problem_ids=[o.problem.pk]
    ),
    "policy_critic": lambda o, user: policy_critic_job_start(
        project=o.project,
        user=user,
        model=o.generator,
        critic=o.critic,
        problem_ids=[o.problem.pk],
    ),
    "monte_carlo": lambda o, user: monte_carlo_job_start(
        project=o.project,
        user=user,
        model=o.generator,
        prompt=o.sample_prompt,
        trace_ids=[o.trace.pk],
    ),
    "export": lambda o, user: export_start(
        project=o.project,
        user=user,
        options=ExportOptions(format="prm800k", grades="run", run=o.run.pk),
    ),
    "continue": lambda o, user: work_path_continue(assignment=continuing(o), version=1, position=0)[
        1
    ],
    "train_sft": lambda o, user: training_job_start(
        project=o.project,
        user=user,
        method="sft",
        export=o.sft_export,
        base=o.generator,
        name="trained",
    ),
    "train_dpo": lambda o, user: training_job_start(
        project=o.project,
        user=user,
        method="dpo",
        export=o.dpo_export,
        base=o.generator,
        name="trained",
    ),
    "train_prm": lambda o, user: training_job_start(
        project=o.project,
        user=user,
        method="prm",
        head="math-shepherd",
        export=o.prm_export,
        base=o.generator,
        name="trained",
    ),
    "train_grpo": lambda o, user: grpo_job_start(
        project=o.project,
        user=user,
        base=o.generator,
        name="trained",
        prompt=o.sample_prompt,
        problem_ids=[o.problem.pk],
        reward=GRPO_REWARD,
        reward_model=o.scorer,
        hyperparameters=GRPO_HYPERPARAMETERS,
    ),
    "train_grpo_export": lambda o, user: grpo_job_start(
        project=o.project,
        user=user,
        base=o.generator,
        name="trained",
        prompt=o.sample_prompt,
        export=o.sft_export,
        hyperparameters=GRPO_HYPERPARAMETERS,
    ),
    "evaluate": lambda o, user: evaluation_job_start(
        project=o.project,
        user=user,
        models=[o.generator],
        prompt=o.sample_prompt,
        problem_ids=[o.problem.pk],
    ),
    "evaluate_export": lambda o, user: evaluation_job_start(
        project=o.project,
        user=user,
        models=[o.generator],
        prompt=o.sample_prompt,
        export=o.sft_export,
    ),
}


def continuing(o: Inputs) -> Assignment:
    """A claim on the project's trace, the project continuing paths with `o.generator` (set
    as a row written some other way than the settings page, which offers the project's own)."""
    Project.objects.filter(pk=o.project.pk).update(continuation_model=o.generator)
    admin = o.project.memberships.get(role=Role.ADMIN).user
    claim = assignment_claim_next(project=o.project, user=admin, kind=ItemKind.GRADE)
    assert claim is not None and claim.trace_id == o.trace.pk
    return access_assignment(admin, claim.pk)


# (how the job is started, the field naming B's row, the input taken from B, its noun)
CASES = [
    ("sample", "problem_ids", "problem", "problem"),
    ("sample", "model", "generator", "model"),
    ("sample", "prompt", "sample_prompt", "prompt version"),
    ("expand", "trace_ids", "trace", "trace"),
    ("expand", "model", "generator", "model"),
    ("expand", "prompt", "expand_prompt", "prompt version"),
    ("expand", "scorer", "scorer", "model"),
    ("rationalize", "problem_ids", "problem", "problem"),
    ("rationalize", "prompt", "rationalize_prompt", "prompt version"),
    ("score", "trace_ids", "trace", "trace"),
    ("score", "scorer", "scorer", "model"),
    ("tree", "problem_ids", "problem", "problem"),
    ("tree", "model", "generator", "model"),
    ("tree", "scorer", "scorer", "model"),
    ("long_thought", "tree_job", "tree_job", "job"),
    ("best_of_n", "sample_job", "tree_job", "job"),
    ("round_comparison", "round_a", "tree_job", "job"),
    ("long_thought", "rewriter", "generator", "model"),
    ("monte_carlo", "trace_ids", "trace", "trace"),
    ("monte_carlo", "model", "generator", "model"),
    ("monte_carlo", "prompt", "sample_prompt", "prompt version"),
    ("proposal_critique", "problem_ids", "problem", "problem"),
    ("proposal_critique", "model", "generator", "model"),
    ("policy_critic", "problem_ids", "problem", "problem"),
    ("policy_critic", "model", "generator", "model"),
    ("policy_critic", "critic", "critic", "model"),
    ("export", "run", "run", "job"),
    ("continue", "model", "generator", "model"),
    ("train_sft", "export", "sft_export", "job"),
    ("train_sft", "base", "generator", "model"),
    ("train_dpo", "export", "dpo_export", "job"),
    ("train_dpo", "base", "generator", "model"),
    ("train_prm", "export", "prm_export", "job"),
    ("train_prm", "base", "generator", "model"),
    ("train_grpo", "problem_ids", "problem", "problem"),
    ("train_grpo", "base", "generator", "model"),
    ("train_grpo", "reward_model", "scorer", "model"),
    ("train_grpo", "prompt", "sample_prompt", "prompt version"),
    ("train_grpo_export", "export", "sft_export", "job"),
    ("evaluate", "models", "generator", "model"),
    ("evaluate", "problem_ids", "problem", "problem"),
    ("evaluate", "prompt", "sample_prompt", "prompt version"),
    ("evaluate_export", "export", "sft_export", "job"),
]
CASE_IDS = [f"{start}-{field}" for start, field, _, _ in CASES]
JOB_KIND = {
    "rationalize": JobKind.EXPAND,
    "evaluate_export": JobKind.EVALUATE,
    "train_grpo_export": JobKind.TRAIN_GRPO,
}


def with_b(world: World, swap: str) -> Inputs:
    """Project A's inputs with one of them taken from project B."""
    return replace(world.a, **{swap: getattr(world.b, swap)})


def refusal(world: World, swap: str, noun: str) -> str:
    row = getattr(world.b, swap)
    return f"{noun} {row.pk} is not in project A"


def job_count(world: World) -> int:
    return Job.objects.filter(project=world.a.project).count()


# Tests ---------------------------------------------------------------------------------------


def test_every_job_kind_is_covered():
    started = {JOB_KIND.get(start, start) for start, *_ in CASES}
    # an import names nothing but its project and file (see the import test below), a
    # whole-project analysis (agreement between annotators too) nothing but its project
    nothing_named = {
        JobKind.IMPORT,
        JobKind.SCORER_COMPARISON,
        JobKind.DISAGREEMENT_QUEUE,
        JobKind.AGREEMENT,
    }
    assert started | nothing_named == set(JobKind)


@pytest.mark.parametrize("start", sorted(API))
def test_the_same_request_with_the_projects_own_inputs_is_accepted(world, client, start):
    # given (the control: each refusal below differs from this request by one input)
    url, body = API[start](world.a)
    client.force_login(world.user)
    # when
    response = client.post(url, body, content_type="application/json")
    # then
    assert response.status_code == 202, response.content
    assert Job.objects.get(pk=response.json()["id"]).kind == JOB_KIND.get(start, start)


@pytest.mark.parametrize(("start", "field", "swap", "noun"), CASES, ids=CASE_IDS)
def test_the_api_refuses_an_input_of_another_project_and_enqueues_nothing(
    world, client, django_capture_on_commit_callbacks, start, field, swap, noun
):
    # given
    url, body = API[start](with_b(world, swap))
    client.force_login(world.user)
    before = job_count(world)
    # when
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = client.post(url, body, content_type="application/json")
    # then
    assert (response.status_code, response.json()) == (
        400,
        {field: [refusal(world, swap, noun)]},
    )
    assert (job_count(world), enqueued) == (before, [])


@pytest.mark.parametrize(("start", "field", "swap", "noun"), CASES, ids=CASE_IDS)
def test_the_service_refuses_an_input_of_another_project(
    world, django_capture_on_commit_callbacks, start, field, swap, noun
):
    # given
    before = job_count(world)
    # when
    with (
        django_capture_on_commit_callbacks(execute=False) as enqueued,
        pytest.raises(ValidationError) as error,
    ):
        SERVICE[start](with_b(world, swap), world.user)
    # then
    assert error.value.message_dict == {field: [refusal(world, swap, noun)]}
    assert (job_count(world), enqueued) == (before, [])


def test_a_researcher_of_a_alone_may_not_sample_bs_problems(world, client):
    # given the reported case: a member of A only, naming B's problems by id
    researcher = UserFactory(username="only-a")
    MembershipFactory(project=world.a.project, user=researcher, role=Role.RESEARCHER)
    url, body = API["sample"](with_b(world, "problem"))
    client.force_login(researcher)
    # when
    response = client.post(url, body, content_type="application/json")
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"problem_ids": [f"problem {world.b.problem.pk} is not in project A"]},
    )
    assert Job.objects.filter(kind=JobKind.SAMPLE).count() == 0


def test_the_export_page_refuses_a_run_of_another_project(world, client):
    # given the one browser form that takes an id as typed (the others offer A's rows only)
    client.force_login(world.user)
    form = {
        "format": "prm800k",
        "file_format": "jsonl",
        "zero_is": "good",
        "grades": "run",
        "run": world.b.run.pk,
        "score_threshold": 0.5,
        "min_agreement": 0.0,
        "test_fraction": 0.0,
        "seed": 0,
        "pairs_per_problem": 5,
    }
    before = Job.objects.filter(kind=JobKind.EXPORT).count()  # the world's own exports
    # when
    response = client.post(f"/projects/{world.a.project.pk}/export/", form)
    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"run": [f"job {world.b.run.pk} is not in project A"]}
    assert Job.objects.filter(kind=JobKind.EXPORT).count() == before


def test_an_import_names_no_rows_and_only_a_managed_project(world, client):
    # given: an import's parameters name no rows at all, only its project and file
    assert [f for f in ImportParams.__dataclass_fields__.values() if OWNER in f.metadata] == []
    admin_of_a = UserFactory(username="admin-a")
    MembershipFactory(project=world.a.project, user=admin_of_a, role=Role.ADMIN)
    client.force_login(admin_of_a)
    # when a member of A only imports into B
    response = client.post(
        "/api/imports/",
        {"project": world.b.project.pk, "format": "math", "file": _upload()},
    )
    # then
    assert response.status_code == 404
    assert Job.objects.filter(kind=JobKind.IMPORT).count() == 0


def _upload() -> SimpleUploadedFile:
    line = b'{"problem": "1 + 1?", "solution": "$\\\\boxed{2}$", "level": "Level 1"}\n'
    return SimpleUploadedFile("math.jsonl", line)


# Defence in depth: job rows whose stored parameters name another project's rows ---------------


def test_a_runner_refuses_stored_problem_ids_of_another_project(world):
    # given a sample job of A whose stored problem ids were rewritten to B's
    job = SERVICE["sample"](world.a, world.user)
    Job.objects.filter(pk=job.pk).update(
        params={**job.params, "problem_ids": [world.b.problem.pk]}, status=JobStatus.RUNNING
    )
    job.refresh_from_db()
    # when / then: the runner's loader refuses before any model is loaded
    with pytest.raises(InputOutsideProject) as error:
        run_sample(job)
    assert str(error.value) == (
        f"problem_ids: problem {world.b.problem.pk} belongs to another project; a job reads "
        "and writes only the rows of its own project"
    )
    assert Trace.objects.filter(job=job).count() == 0


@pytest.mark.parametrize(
    ("start", "field", "swap", "noun", "change"),
    [
        (
            "train_sft",
            "export.job",
            "sft_export",
            "job",
            lambda p, row: p["export"].update(job=row),
        ),
        ("train_prm", "base", "generator", "model", lambda p, row: p["base"].update(id=row)),
        (
            "train_grpo",
            "reward_model",
            "scorer",
            "model",
            lambda p, row: p["reward_model"].update(id=row),
        ),
        (
            "train_grpo",
            "problems.problem_ids",
            "problem",
            "problem",
            lambda p, row: p["problems"].update(problem_ids=[row]),
        ),
        ("evaluate", "models", "generator", "model", lambda p, row: p["models"][0].update(id=row)),
        (
            "evaluate_export",
            "held_out.export",
            "sft_export",
            "job",
            lambda p, row: p["held_out"].update(export=row),
        ),
    ],
    ids=[
        "training-export",
        "training-base",
        "grpo-reward-model",
        "grpo-problems",
        "evaluated-model",
        "evaluation-export",
    ],
)
def test_a_stored_training_or_evaluation_job_naming_another_projects_rows_is_not_run(
    world, start, field, swap, noun, change
):
    # given a job of A whose stored parameters name one of B's rows, inside a nested object
    # or a list of model snapshots
    job = SERVICE[start](world.a, world.user)
    foreign = getattr(world.b, swap).pk
    params = job.params
    change(params, foreign)
    Job.objects.filter(pk=job.pk).update(params=params)
    # when the task takes it
    run_job(job.pk)
    # then it fails before its runner reads anything
    job.refresh_from_db()
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        f"{field}: {noun} {foreign} belongs to another project; a job reads and writes only "
        "the rows of its own project",
    )
    assert Trace.objects.filter(job=job).count() == 0
