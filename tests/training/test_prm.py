"""PRM fine-tuning's pieces: the loss at the markers, the encoding that matches the scorers,
and a run on soft Monte-Carlo labels."""

from pathlib import Path

import pytest

from annotation.jobs.models import JobStatus
from annotation.problems.models import Origin, TraceStep
from annotation.training.services import training_job_start
from tests.support.models import tiny_model
from tests.support.training import (
    FAST,
    base_config,
    export_now,
    monte_carlo_estimates,
    run_now,
    training_project,
)

pytestmark = pytest.mark.models


def test_step_loss_is_the_soft_cross_entropy_of_good_and_bad_at_the_markers() -> None:
    import math

    import torch

    from workers.training.prm import step_loss

    # given logits over 3 columns at 3 positions; markers at positions 1 (target 0.8) and 2 (0)
    logits = torch.tensor([[[0.0, 2.0, -1.0], [1.0, 0.0, 0.5], [3.0, 1.0, 0.0]]])
    targets = torch.tensor([[-1.0, 0.8, 0.0]])
    # when column 2 is "good" and column 0 "bad"
    loss = step_loss(logits, targets, (2, 0))

    # then
    def log_p(good: float, bad: float) -> tuple[float, float]:
        total = math.log(math.exp(good) + math.exp(bad))
        return good - total, bad - total

    first, second = log_p(0.5, 1.0), log_p(0.0, 3.0)
    expected = (-(0.8 * first[0] + 0.2 * first[1]) - second[1]) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_encoding_puts_each_target_at_its_step_marker_as_the_scorer_renders_it() -> None:
    from algorithms.prm_inputs import math_shepherd_input
    from workers.backends.hf_loading import load_tokenizer
    from workers.training.prm import NOT_A_STEP, StepExample, encode

    tokenizer = load_tokenizer(tiny_model("lm"), padding_side="right")
    tag = tokenizer.convert_tokens_to_ids("ки")
    example = StepExample("What is 2 + 3?", ["2 + 3 = 5.", "So 5."], [1.0, 0.25])
    # when
    row = encode(example, tokenizer, "math-shepherd", tag, 512)
    # then the ids are the scorer's input, and only the two tags carry a target
    assert row is not None
    rendered = math_shepherd_input(example.problem, example.steps, tag="ки")
    assert row["input_ids"] == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    marked = [(i, t) for i, t in enumerate(row["step_targets"]) if t != NOT_A_STEP]
    assert [row["input_ids"][i] for i, _ in marked] == [tag, tag]
    assert [t for _, t in marked] == [1.0, 0.25]
    # and a step that contains the marker itself is left out, as the scorers refuse it
    assert encode(StepExample("q", ["a ки b"], [1.0]), tokenizer, "math-shepherd", tag, 512) is None


def test_a_prm_trains_on_soft_monte_carlo_labels(project, store: Path) -> None:
    # given Monte-Carlo estimates on the steps of the samples
    training_project(project)
    steps = TraceStep.objects.filter(
        trace__problem__project=project, trace__origin=Origin.MODEL_SAMPLE
    )
    monte_carlo_estimates(project, [(step, 0.875) for step in steps])
    export = export_now(project, "trl-stepwise", grades="monte_carlo", soft_labels=True)
    assert export.result["manifest"]["splits"]["train"]["rows"] == 18
    # when
    job = run_now(
        training_job_start(
            project=project,
            user=None,
            method="prm",
            export=export,
            base=base_config(project),
            name="soft prm",
            head="qwen-prm",
            hyperparameters={**FAST, "max_steps": 2},
        )
    )
    # then
    assert (job.status, job.result["global_step"]) == (JobStatus.SUCCEEDED, 2)
