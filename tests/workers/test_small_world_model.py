"""The small-world model's tokenizer and the committed model's build report."""

import json
from pathlib import Path

import pytest

from algorithms import small_world
from annotation.datasets.small_world import DEMO_MODEL_DIR
from workers import small_world_model
from workers.runners.monte_carlo import rollout_prompt
from workers.runners.tree import completion_prompt


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> object:
    rows = small_world_model.training_rows(small_world_model.BuildSettings(train_problems=400))
    built = small_world_model.build_tokenizer(
        tmp_path_factory.mktemp("tokenizer"), [r["prompt"] + r["completion"] for r in rows]
    )
    small_world_model.add_layout_normalizer(built)
    return built


def test_every_digit_is_a_token_of_its_own(tokenizer: object) -> None:
    tokens = tokenizer.tokenize("Step 2: 145 - 18 = 127")  # type: ignore[attr-defined]
    assert [t.lstrip("Ġ") for t in tokens if t.lstrip("Ġ").isdigit()] == list("214518127")


@pytest.mark.parametrize("template", small_world_model.prompt_templates())
def test_a_jobs_prompt_tokenizes_as_the_start_of_a_training_row(
    tokenizer: object, template: str
) -> None:
    # given a problem and its training row under the template
    problem = small_world.generate(3, seed=1, split="test")[2]
    steps = problem.steps()
    row = small_world_model.prompt_of(problem, template) + small_world_model.completion_of(problem)
    encode = tokenizer.tokenize  # type: ignore[attr-defined]

    # then: a tree's first prompt ends as most training rows had it, whatever the template
    first = encode(completion_prompt(template, problem.text, (), "\n\n"))
    assert first[-4:] == ["?", "Ċ", "Ċ", "Ċ"]
    # and a tree's or a Monte-Carlo rollout's prompt, cut after any step, is a token prefix
    for k in range(len(steps)):
        for prompt in (
            completion_prompt(template, problem.text, tuple(steps[:k]), "\n\n"),
            rollout_prompt(template, problem.text, steps[:k], chat=False) if k else None,
        ):
            if prompt is not None:
                assert encode(row)[: len(encode(prompt))] == encode(prompt)


def test_the_committed_model_half_solves_held_out_problems() -> None:
    report = json.loads((Path(DEMO_MODEL_DIR) / small_world_model.REPORT_NAME).read_text())
    assert 0.2 <= report["accuracy"] <= 0.8
    assert report["settings"] == small_world_model.BuildSettings().__dict__
