"""GRPO runs in this process (no worker): a policy trained against the answer check and a
PRM of the project, registered with a lineage naming the PRM; what each logging step
recorded; the "+RL" row of the results table and the page of samples before and after."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trl.trainer.utils import RepeatSampler

from algorithms.training import Hyperparameters, grpo_optimizer_steps
from annotation.jobs.models import JobStatus
from annotation.jobs.params import ModelSnapshot, job_params
from annotation.llm.models import ModelConfig
from annotation.problems.models import Problem
from annotation.training.models import ModelLineage, TrainingLogEntry
from annotation.training.params import GRPOParams
from tests.support.training import run_now, start_grpo, training_project
from workers.runners.common import load_generator

pytestmark = pytest.mark.models


def test_a_grpo_run_registers_a_policy_whose_lineage_names_its_prm(project, store: Path) -> None:
    # given twelve problems, nine on the train side of an export, and a base model and a PRM
    training_project(project)
    # when GRPO trains on the nine
    job = run_now(start_grpo(project, "tiny +rl"))
    # then it took the steps the problems need: two problems per step, four whole steps
    params = job_params(job, GRPOParams)
    assert (job.status, job.result["global_step"]) == (JobStatus.SUCCEEDED, 4)
    assert grpo_optimizer_steps(9, params.hyperparameters) == 4
    assert (job.done, job.total) == (4, 4)
    # and registered a generator whose lineage names the base, the PRM and the problems
    policy = ModelConfig.objects.get(pk=job.result["model_config"])
    lineage = ModelLineage.objects.get(config=policy)
    train_side = list(
        Problem.objects.filter(project=project)
        .exclude(external_id__in=["p9", "p10", "p11"])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert (lineage.method, lineage.parent.name, lineage.reward_model.name) == (
        "grpo",
        "tiny base",
        "tiny prm",
    )
    assert lineage.reward_model_label == "tiny prm@v1"
    assert lineage.problem_ids == train_side
    assert lineage.reward == {
        "outcome_weight": 1.0,
        "process_weight": 0.5,
        "aggregation": "min",
        "prompt": params.prompt.label,
    }
    problems_file = store / f"job-{job.pk}" / "data" / "problems.jsonl"
    import hashlib

    assert lineage.train_file_sha256 == hashlib.sha256(problems_file.read_bytes()).hexdigest()
    assert [json.loads(line)["problem_id"] for line in problems_file.read_text().splitlines()] == (
        train_side
    )
    # and every step logged its loss, rewards, KL and completion length
    log = list(TrainingLogEntry.objects.filter(job=job).order_by("step"))
    assert [e.step for e in log] == [1, 2, 3, 4]
    for entry in log:
        figures = (entry.loss, entry.reward, entry.reward_std, entry.kl, entry.response_length)
        assert None not in figures, entry.__dict__
        assert 0 < entry.response_length <= 12  # max_new_tokens
        assert entry.reward_outcome is not None and entry.reward_process is not None
        # the mean reward is the weighted sum of the means of its parts
        assert entry.reward == pytest.approx(entry.reward_outcome + 0.5 * entry.reward_process)
    # and recorded a group of completions with the inputs and outputs of their rewards
    for entry in log:
        records = entry.reward_samples
        assert len(records) == 4 and len({r["problem_id"] for r in records}) == 1
        assert records[0]["problem_id"] in train_side
        for record in records:
            assert record["truth"] == Problem.objects.get(pk=record["problem_id"]).answer
            assert record["outcome"] == (1.0 if record["correct"] is True else 0.0)
            scores = record["step_scores"]
            process = min(scores) if scores else None
            assert record["process"] == process
            assert len(scores or []) == len(record["steps"])
            assert record["reward"] == pytest.approx(record["outcome"] + 0.5 * (process or 0.0))
    # and the policy samples
    outputs = load_generator(ModelSnapshot.of(policy)).generate(["Ann has 2 apples."], sampling())
    assert len(outputs[0]) == 1


def sampling():  # type: ignore[no-untyped-def]
    from algorithms.sampling import SamplingParams

    return SamplingParams(max_tokens=8, seed=0)


@settings(deadline=None)
@given(
    problems=st.integers(1, 200),
    group=st.sampled_from([2, 4, 8]),
    prompts_per_batch=st.integers(1, 4),
    accumulation=st.integers(1, 4),
    epochs=st.integers(1, 3),
)
def test_grpo_steps_are_those_trl_takes(
    problems: int, group: int, prompts_per_batch: int, accumulation: int, epochs: int
) -> None:
    # given TRL's own sampler for GRPO and transformers' count of updates per epoch
    hp = Hyperparameters.for_method(
        "grpo",
        {
            "group_size": group,
            "batch_size": group * prompts_per_batch,
            "gradient_accumulation": accumulation,
            "epochs": float(epochs),
        },
    )
    generation_batch = hp.batch_size * accumulation
    sampler = RepeatSampler(
        data_source=list(range(problems)),
        mini_repeat_count=group,
        batch_size=generation_batch // group,
        repeat_count=accumulation,
    )
    batches = math.ceil(len(sampler) / generation_batch)  # the dataloader's batches
    per_epoch = batches // accumulation + int(batches % accumulation > 0)
    # then
    assert grpo_optimizer_steps(problems, hp) == math.ceil(epochs * per_epoch)
