"""The results page of an evaluation of four models (the report's Q8 rows: base, shortcut SFT,
journey SFT, + DPO) on known samples equals a direct computation written here."""

import re
from collections import Counter
from itertools import combinations

import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import model_config_create
from annotation.problems.models import Origin
from annotation.training.models import ModelLineage
from annotation.training.selectors import results_table
from annotation.training.services import evaluation_job_start
from tests.factories import MembershipFactory, UserFactory, trace_with_steps
from tests.support.data import make_problems, prompt

# model -> problem index -> (answer, correct, tokens) per sample, in sampling order
SAMPLES: dict[str, list[list[tuple[str | None, bool, int]]]] = {
    "base": [
        [("5", True, 10), ("6", False, 12), ("6", False, 9), (None, False, 30)],
        [("7", False, 11), ("7", False, 10), ("9", True, 8), ("8", False, 7)],
        [(None, False, 40), (None, False, 40), ("11", True, 20), ("12", False, 21)],
    ],
    "shortcut sft": [
        [("5", True, 8), ("5", True, 8), ("6", False, 9), ("5", True, 7)],
        [("9", True, 9), ("8", False, 9), ("8", False, 9), ("9", True, 10)],
        [("11", True, 12), ("11", True, 11), ("11", True, 13), ("11", True, 12)],
    ],
    "journey sft": [
        [("5", True, 60), ("5", True, 80), ("5", True, 70), ("5", True, 90)],
        [("8", False, 75), ("9", True, 65), ("9", True, 85), ("8", False, 70)],
        [("12", False, 100), ("11", True, 90), ("11", True, 95), ("13", False, 99)],
    ],
    "journey sft + dpo": [
        [("5", True, 50), ("5", True, 55), ("5", True, 52), ("5", True, 51)],
        [("9", True, 60), ("9", True, 61), ("9", True, 62), ("8", False, 63)],
        [("11", True, 70), ("12", False, 71), ("11", True, 72), ("11", True, 73)],
    ],
}
KS = [1, 2, 4]


def direct(samples: list[list[tuple[str | None, bool, int]]]) -> dict[str, float]:
    """Every metric computed from its definition, independently of algorithms.results."""
    row: dict[str, float] = {
        "accuracy": sum(sum(c for _, c, _ in p) / len(p) for p in samples) / len(samples),
        "mean_tokens": sum(t for p in samples for _, _, t in p) / sum(len(p) for p in samples),
    }
    for k in KS:
        subsets = [list(combinations(p, k)) for p in samples]
        row[f"pass@{k}"] = sum(
            sum(any(c for _, c, _ in s) for s in subs) / len(subs) for subs in subsets
        ) / len(samples)
        wins = 0
        for problem in samples:
            first = problem[:k]
            votes = Counter(a for a, _, _ in first if a is not None)
            if votes:
                top = max(votes.values())
                winner = next(a for a, _, _ in first if a is not None and votes[a] == top)
                wins += next(c for a, c, _ in first if a == winner)
        row[f"maj@{k}"] = wins / len(samples)
    return row


@pytest.fixture
def evaluation(project) -> Job:
    """Four models, one trained from another as in the report, and their known samples."""
    models: dict[str, ModelConfig] = {}
    for name in SAMPLES:
        models[name] = model_config_create(
            project=project, name=name, kind="transformers", path_or_endpoint=f"/models/{name}"
        )
    for name, parent, method, fmt in [
        ("shortcut sft", "base", "sft", "sft-shortcut"),
        ("journey sft", "base", "sft", "sft-journey"),
        ("journey sft + dpo", "journey sft", "dpo", "dpo"),
    ]:
        ModelLineage.objects.create(
            config=models[name],
            parent=models[parent],
            parent_label=models[parent].label,
            method=method,
            export_format=fmt,
            manifest_sha256="0" * 64,
            train_file_sha256="1" * 64,
            train_rows=10,
            code_version="test",
        )
    problems = make_problems(project, 3)
    job = evaluation_job_start(
        project=project,
        user=None,
        models=list(models.values()),
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
        k=4,
    )
    for name, per_problem in SAMPLES.items():
        model = models[name]
        for problem, samples in zip(problems, per_problem, strict=True):
            distinct = list(dict.fromkeys(a for a, _, _ in samples if a is not None))
            for index, (answer, correct, tokens) in enumerate(samples):
                trace_with_steps(
                    problem,
                    [],
                    origin=Origin.EVALUATION,
                    job=job,
                    external_id=f"job{job.pk}:m{model.pk}:p{problem.pk}:{index}",
                    final_answer=answer,
                    is_correct=correct if answer is not None else None,
                    metadata={
                        "model_config": model.pk,
                        "sample_index": index,
                        "tokens": tokens,
                        "answer_group": distinct.index(answer) if answer is not None else None,
                    },
                )
    return job


def test_the_results_table_equals_the_direct_computation(evaluation: Job) -> None:
    # when
    table = results_table(evaluation)
    # then
    assert table.ks == KS
    assert [row.label for row in table.rows] == [f"{name}@v1" for name in SAMPLES]
    assert [row.trained for row in table.rows] == [
        "",
        "SFT on sft-shortcut from base@v1",
        "SFT on sft-journey from base@v1",
        "DPO on dpo from journey sft@v1",
    ]
    for row, samples in zip(table.rows, SAMPLES.values(), strict=True):
        expected = direct(samples)
        summary = row.summary
        got = {
            "accuracy": summary.accuracy,
            "mean_tokens": summary.mean_tokens,
            **{f"pass@{k}": v for k, v in summary.pass_at.items()},
            **{f"maj@{k}": v for k, v in summary.majority_at.items()},
        }
        assert got == pytest.approx(expected)


def test_the_results_page_shows_the_direct_computation_linking_each_cell_to_its_samples(
    evaluation: Job, client
) -> None:
    # given
    researcher = UserFactory()
    MembershipFactory(project=evaluation.project, user=researcher, role=Role.RESEARCHER)
    client.force_login(researcher)
    # when
    page = client.get(reverse("training-results", args=[evaluation.pk])).content.decode()
    # then each row's cells, as shown, are the direct computation rounded
    models = evaluation.params["models"]
    for model, samples in zip(models, SAMPLES.values(), strict=True):
        row = page.split(f'<tr data-model="{model["id"]}">')[1].split("</tr>")[0]
        found = re.findall(r'href="([^"]+)" data-metric="([^"]+)">([^<]*)<', row)
        cells = {metric: value for _, metric, value in found}
        links = {href for href, _, _ in found}
        expected = direct(samples)
        assert cells == {
            metric: f"{value:.1f}" if metric == "mean_tokens" else f"{value:.3f}"
            for metric, value in expected.items()
        }
        assert links == {reverse("training-samples", args=[evaluation.pk, model["id"]])}
    # and a cell's link lists that model's samples
    samples_page = client.get(reverse("training-samples", args=[evaluation.pk, models[1]["id"]]))
    assert samples_page.content.decode().count('data-testid="sample"') == 12
