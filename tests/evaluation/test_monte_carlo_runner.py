"""The Monte-Carlo labeling runner with a deterministic policy whose rollouts are controlled:
a prefix reaches the ground truth (5) in as many of its n rollouts as its steps allow."""

from collections.abc import Sequence

import pytest

from algorithms.mc_labels import first_error_binary_search, first_error_linear
from annotation.core.models import Project
from annotation.evaluation.models import Rollout
from annotation.evaluation.services import monte_carlo_job_start
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import Job, JobStatus
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import model_config_create
from annotation.problems.models import Trace
from tests.factories import ProblemFactory, trace_with_steps
from tests.support.data import prompt
from workers.runners.monte_carlo import CONTINUE_INSTRUCTION, Completion, run_monte_carlo

pytestmark = pytest.mark.django_db

N = 4


class ScriptedPolicy:
    """Rollouts decided by the prefix: after a step containing "bad" none reaches the answer,
    after "shaky" (and nothing bad) half do, otherwise all do. Records every prompt."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, prompts: Sequence[str], n: int) -> list[list[Completion]]:
        self.prompts += prompts
        result = []
        for text in prompts:
            prefix = text.split(CONTINUE_INSTRUCTION, 1)[1]
            reaching = 0 if "bad" in prefix else n // 2 if "shaky" in prefix else n
            result.append([(f"So the answer is {5 if i < reaching else 7}.", 6) for i in range(n)])
        return result


def policy_model(project: Project) -> ModelConfig:
    return model_config_create(
        project=project, name="scripted", kind="transformers", path_or_endpoint="/nowhere"
    )


def start(project: Project, traces: list[Trace], mode: str, chunk_size: int = 4) -> Job:
    if not project.model_configs.exists():
        policy_model(project)
        prompt(project, PromptPurpose.SAMPLE)
    job = monte_carlo_job_start(
        project=project,
        user=None,
        model=project.model_configs.get(),
        prompt=project.prompt_templates.get().versions.get(),
        trace_ids=[t.pk for t in traces],
        n=N,
        mode=mode,
        chunk_size=chunk_size,
    )
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    return job


def labels_along(trace: Trace, job: Job) -> list[tuple[int, float | None, str]]:
    source = GradeSource.objects.get(job=job)
    grades = {
        g.node_id: (g.rating, g.score, g.reason)
        for g in Grade.objects.filter(source=source, is_current=True)
    }
    nodes = trace.steps.filter(on_path=True).order_by("position").values_list("node_id", flat=True)
    return [grades[node] for node in nodes]


def first_error(labels: list[tuple[int, float | None, str]]) -> int:
    return next((i for i, (rating, _, _) in enumerate(labels) if rating == -1), -1)


def test_all_mode_writes_hard_and_soft_labels_and_keeps_every_rollout(project):
    # given a trace whose third step is shaky and fourth bad
    problem = ProblemFactory(project=project, answer="5")
    trace = trace_with_steps(problem, ["a = 2", "b = 3", "shaky: a + b", "bad: 2 * 3 = 6"])
    job = start(project, [trace], "all")
    # when
    result = run_monte_carlo(job, ScriptedPolicy())
    # then
    assert labels_along(trace, job) == [(1, 1.0, ""), (1, 1.0, ""), (1, 0.5, ""), (-1, 0.0, "")]
    source = GradeSource.objects.get(job=job)
    assert source.kind == SourceKind.MONTE_CARLO
    assert Rollout.objects.filter(job=job).count() == 4 * N
    assert list(
        Rollout.objects.filter(job=job, node__depth=3)
        .order_by("index")
        .values_list("answer", "reached")
    ) == [("5", True), ("5", True), ("7", False), ("7", False)]
    assert {k: result[k] for k in ("rollouts", "reached", "prefixes", "labels", "bad")} == {
        "rollouts": 16,
        "reached": 10,
        "prefixes": 4,
        "labels": 4,
        "bad": 1,
    }
    assert (job.done, job.total) == (1, 1)


def test_running_again_samples_nothing_and_writes_nothing_twice(project):
    problem = ProblemFactory(project=project, answer="5")
    first = trace_with_steps(problem, ["a = 2", "bad: a = 3"])
    # a second trace sharing the first step: its prefix is rolled out once
    second = trace_with_steps(problem, ["a = 2", "so 5"])
    job = start(project, [first, second], "all", chunk_size=1)
    policy = ScriptedPolicy()
    run_monte_carlo(job, policy)
    assert len(policy.prompts) == 3
    # when
    again = ScriptedPolicy()
    result = run_monte_carlo(job, again)
    # then
    assert again.prompts == []
    assert (result["rollouts"], result["labels"]) == (3 * N, 3)
    assert Grade.objects.filter(source__job=job).count() == 3


def test_binary_search_finds_the_linear_scans_first_error_with_fewer_prefixes(project):
    # given eight-step traces with the first bad step at every position, and one without
    problem = ProblemFactory(project=project, answer="5")
    length = 8
    traces = []
    for error_at in [*range(length), -1]:
        texts = [
            f"trace {error_at} step {i}" + (" bad" if 0 <= error_at <= i else "")
            for i in range(length)
        ]
        traces.append(trace_with_steps(problem, texts))
    binary = start(project, traces, "binary_search", chunk_size=3)
    linear = start(project, traces, "all", chunk_size=3)
    # when
    binary_result = run_monte_carlo(binary, ScriptedPolicy())
    linear_result = run_monte_carlo(linear, ScriptedPolicy())
    # then every first error agrees with the full labels and with the pure linear scan
    for error_at, trace in zip([*range(length), -1], traces, strict=True):
        binary_labels = labels_along(trace, binary)
        assert first_error(binary_labels) == error_at
        assert first_error(labels_along(trace, linear)) == error_at
        expected, _ = first_error_linear(length, lambda n, e=error_at: [e == -1 or n <= e] * N)
        assert expected == error_at
        # at most bit_length(8) = 4 prefixes were rolled out for this trace
        evaluated = [label for label in binary_labels if label[2] == ""]
        assert len(evaluated) <= length.bit_length()
        assert all(score is None for _, score, reason in binary_labels if reason == "inferred")
    searched = sum(
        first_error_binary_search(length, lambda n, e=e: [e == -1 or n <= e] * N)[1]
        for e in [*range(length), -1]
    )
    assert (binary_result["prefixes"], linear_result["prefixes"]) == (searched, 72)
    scanned = sum(
        first_error_linear(length, lambda n, e=e: [e == -1 or n <= e] * N)[1]
        for e in [*range(length), -1]
    )
    # fewer prefixes than a linear scan, which stops at the first error (and than all 72)
    assert (searched, scanned) == (29, 44)
    assert binary_result["labels"] == linear_result["labels"] == 72
    assert (binary_result["inferred"], linear_result["inferred"]) == (72 - 29, 0)


def test_an_evaluated_label_replaces_an_inferred_one_and_keeps_its_history(project):
    # given a binary search that inferred the label of a step
    problem = ProblemFactory(project=project, answer="5")
    steps = ["x = 1", "y = 2", "z = 3", "bad"]
    first = trace_with_steps(problem, steps)
    job = start(project, [first], "binary_search")
    run_monte_carlo(job, ScriptedPolicy())
    inferred = [i for i, label in enumerate(labels_along(first, job)) if label[2] == "inferred"]
    assert inferred == [0]
    # when a later trace of the same job evaluates that step
    second = trace_with_steps(problem, [*steps[:1], "bad again"])
    Job.objects.filter(pk=job.pk).update(params={**job.params, "trace_ids": [first.pk, second.pk]})
    job.refresh_from_db()
    run_monte_carlo(job, ScriptedPolicy())
    # then
    assert labels_along(first, job)[0] == (1, 1.0, "")
    assert Grade.objects.filter(source__job=job, node__depth=1, is_current=False).count() == 1


def test_the_job_needs_a_generator_and_a_known_mode(project):
    from django.core.exceptions import ValidationError

    problem = ProblemFactory(project=project, answer="5")
    trace = trace_with_steps(problem, ["a"])
    model = policy_model(project)
    version = prompt(project, PromptPurpose.SAMPLE)
    with pytest.raises(ValidationError) as error:
        monte_carlo_job_start(
            project=project, user=None, model=model, prompt=version, trace_ids=[trace.pk], mode="x"
        )
    assert error.value.message_dict == {"mode": ["unknown mode 'x'; use all or binary_search"]}
    with pytest.raises(ValidationError) as error:
        monte_carlo_job_start(
            project=project, user=None, model=model, prompt=version, trace_ids=[trace.pk], n=0
        )
    assert error.value.message_dict == {"n": ["n must be between 1 and 256, got 0"]}
