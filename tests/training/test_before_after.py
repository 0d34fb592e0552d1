"""A policy's samples before and after GRPO, on known samples written through the evaluation
runner's own path: the "+RL" row of the results table, and the comparison page's accuracy,
length and reflection and backtrack counts against a direct computation written here."""

import re
from typing import Any

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import model_config_create
from annotation.problems.models import Origin
from annotation.training.models import ModelLineage
from annotation.training.selectors import before_after, results_table
from annotation.training.services import evaluation_job_start
from tests.factories import MembershipFactory, UserFactory
from tests.support.data import make_problems, prompt
from workers.backends.base import Generation
from workers.runners.common import new_traces, write_traces
from workers.runners.evaluate import with_answer_groups

# model -> per problem, its samples: (text, tokens, reflections, backtracks) as written here.
# The problems' answers are 5 and 7.
SAMPLES: dict[str, list[list[tuple[str, int, int, int]]]] = {
    "base": [
        [("2 + 3 = 6.\n\nThe answer is \\boxed{6}.", 10, 0, 0), ("So \\boxed{5}.", 4, 0, 0)],
        [("3 + 4 = 8, \\boxed{8}.", 8, 0, 0), ("No idea.", 4, 0, 0)],
    ],
    "base +rl": [
        [
            (
                "2 + 3 = 6. Wait, that's wrong.\n\nLet me try again: 2 + 3 = 5, \\boxed{5}.",
                30,
                2,
                1,
            ),
            ("2 + 3 = 5. Let me check: 5 - 3 = 2. \\boxed{5}", 20, 1, 0),
        ],
        [
            ("3 + 4 = 8? Hmm. Alternatively, count: 3 + 4 = 7. \\boxed{7}", 25, 1, 1),
            ("3 + 4 = 7, so \\boxed{7}.", 9, 0, 0),
        ],
    ],
}
TRUTHS = ["5", "7"]


def direct(samples: list[list[tuple[str, int, int, int]]]) -> dict[str, float]:
    """The page's figures from their definitions, with correctness read from the \\boxed{}."""

    def correct(text: str, truth: str) -> bool:
        boxed = re.findall(r"\\boxed\{([^}]*)\}", text)
        return bool(boxed) and boxed[-1] == truth

    flat = [s for problem in samples for s in problem]
    return {
        "accuracy": sum(
            sum(correct(text, truth) for text, *_ in problem) / len(problem)
            for problem, truth in zip(samples, TRUTHS, strict=True)
        )
        / len(samples),
        "mean_tokens": sum(tokens for _, tokens, _, _ in flat) / len(flat),
        "reflecting": sum(r > 0 for _, _, r, _ in flat) / len(flat),
        "reflections": sum(r for _, _, r, _ in flat) / len(flat),
        "backtracking": sum(b > 0 for _, _, _, b in flat) / len(flat),
        "backtracks": sum(b for _, _, _, b in flat) / len(flat),
    }


def grpo_lineage(policy: ModelConfig, base: ModelConfig, **fields: Any) -> ModelLineage:
    """The lineage a GRPO run registers, as a row written here."""
    return ModelLineage.objects.create(
        config=policy,
        parent=base,
        parent_label=base.label,
        method="grpo",
        export_format="problems",
        code_version="test",
        **fields,
    )


@pytest.fixture
def evaluation(project) -> Job:
    """A base and the GRPO policy trained from it, evaluated on two problems, two samples
    each, written as the evaluation runner writes its samples."""
    base = model_config_create(
        project=project, name="base", kind="transformers", path_or_endpoint="/models/base"
    )
    prm = model_config_create(
        project=project,
        name="prm",
        kind="transformers",
        path_or_endpoint="/models/prm",
        scorer_head="math-shepherd",
    )
    policy = model_config_create(
        project=project, name="base +rl", kind="transformers", path_or_endpoint="/models/rl"
    )
    grpo_lineage(
        policy,
        base,
        train_rows=9,
        reward_model=prm,
        reward_model_label=prm.label,
        reward={"outcome_weight": 1.0, "process_weight": 0.5, "aggregation": "min"},
    )
    problems = make_problems(project, 2)
    for problem, truth in zip(problems, TRUTHS, strict=True):
        problem.answer = truth
        problem.save(update_fields=["answer"])
    job = evaluation_job_start(
        project=project,
        user=None,
        models=[base, policy],
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
        k=2,
    )
    for model in (base, policy):
        for problem, samples in zip(problems, SAMPLES[model.name], strict=True):
            generations = [Generation(text, tokens, "stop") for text, tokens, _, _ in samples]
            traces = new_traces(
                problem,
                generations,
                key=f"job{job.pk}:m{model.pk}:p{problem.pk}",
                origin=Origin.EVALUATION,
                seconds=1.0,
                chunk_tokens=sum(g.token_count for g in generations),
                metadata={"model": model.label, "model_config": model.pk},
            )
            write_traces(job, with_answer_groups(traces))
    return job


def models(job: Job) -> dict[str, int]:
    return {m["name"]: m["id"] for m in job.params["models"]}


def test_the_policy_is_a_plus_rl_row_and_its_samples_compare_with_its_parents(
    evaluation: Job,
) -> None:
    ids = models(evaluation)
    # when
    table = results_table(evaluation)
    compared = before_after(evaluation, ids["base +rl"], ids["base"])
    # then the policy's row says it was reinforced, against what
    rl = table.rows[1]
    assert (rl.reinforced, rl.parent_id, table.rows[0].reinforced) == (True, ids["base"], False)
    assert rl.trained == (
        "+RL: GRPO on 9 problems from base@v1, rewarded by answer check x1 + min of prm@v1 x0.5"
    )
    # and each side's figures are the direct computation
    for side, name in ((compared.before, "base"), (compared.after, "base +rl")):
        expected = direct(SAMPLES[name])
        got = {
            "accuracy": side.summary.accuracy,
            "mean_tokens": side.summary.mean_tokens,
            "reflecting": side.behaviour.reflecting,
            "reflections": side.behaviour.reflections_per_sample,
            "backtracking": side.behaviour.backtracking,
            "backtracks": side.behaviour.backtracks_per_sample,
        }
        assert got == pytest.approx(expected)
        assert side.behaviour.counted == 4
    # and the first samples of each problem are there to read, with their correctness
    first = compared.problems[0].first
    assert (first[0].text, first[0].correct) == ("2 + 3 = 6.\n\nThe answer is \\boxed{6}.", False)
    assert first[1].correct is True
    assert [pair.correct for pair in compared.problems] == [(1, 2), (0, 2)]


def test_the_pages_link_the_plus_rl_row_to_its_before_and_after(evaluation: Job, client) -> None:
    # given
    researcher = UserFactory()
    MembershipFactory(project=evaluation.project, user=researcher, role=Role.RESEARCHER)
    client.force_login(researcher)
    ids = models(evaluation)
    # when
    results = client.get(reverse("training-results", args=[evaluation.pk])).content.decode()
    compare_url = reverse("training-compare", args=[evaluation.pk, ids["base +rl"]])
    page = client.get(compare_url).content.decode()
    # then the results table marks the policy and links it to the comparison
    row = results.split(f'<tr data-model="{ids["base +rl"]}">')[1].split("</tr>")[0]
    assert 'data-testid="rl">+RL<' in row and f'href="{compare_url}"' in row
    assert 'data-testid="rl"' not in results.split(f'<tr data-model="{ids["base"]}">')[1][:400]
    # and the comparison (against the parent, by default) shows the direct computation
    for name, side in (("base", "before"), ("base +rl", "after")):
        cells = page.split(f'<tr data-side="{side}" data-model="{ids[name]}">')[1].split("</tr>")[0]
        shown = dict(re.findall(r'data-metric="([^"]+)">([^<]*)<', cells))
        expected = direct(SAMPLES[name])
        assert shown == {
            "accuracy": f"{expected['accuracy']:.3f}",
            "mean_tokens": f"{expected['mean_tokens']:.1f}",
            "reflecting": f"{expected['reflecting']:.3f}",
            "reflections": f"{expected['reflections']:.2f}",
            "backtracking": f"{expected['backtracking']:.3f}",
            "backtracks": f"{expected['backtracks']:.2f}",
        }
    assert page.count('data-testid="problem-pair"') == 2
    # and a model without a parent in the evaluation asks what to compare it with
    base_page = client.get(reverse("training-compare", args=[evaluation.pk, ids["base"]]))
    assert 'data-testid="choose-before"' in base_page.content.decode()
    assert client.get(reverse("training-compare", args=[evaluation.pk, 10**9])).status_code == 404


def test_the_split_guard_keeps_the_problems_a_policy_practised_on_out(project) -> None:
    # given a GRPO policy that practised on the first of three problems
    problems = make_problems(project, 3)
    base = model_config_create(
        project=project, name="b", kind="transformers", path_or_endpoint="/b"
    )
    policy = model_config_create(
        project=project, name="rl", kind="transformers", path_or_endpoint="/rl"
    )
    grpo_lineage(policy, base, train_rows=1, problem_ids=[problems[0].pk])
    # when both are evaluated on all three
    job = evaluation_job_start(
        project=project,
        user=None,
        models=[base, ModelConfig.objects.get(pk=policy.pk)],
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
    )
    # then the practised problem is left out, and counted
    assert job.params["problem_ids"] == [problems[1].pk, problems[2].pk]
    assert job.params["held_out"]["excluded_training_problems"] == 1
