"""GRPO with TRL's GRPOTrainer, rewarded by the project's own checks.

Each optimizer step samples `group_size` completions for each of a few problems of the job's
problem set (rendered with the job's sample prompt, chat-templated like every sample of the
base model), rewards every completion with `ProjectReward`, and moves the policy towards the
completions that beat their group's mean (TRL: advantages normalised within each group), with
a KL penalty of weight `beta` against the starting policy.

`ProjectReward` is the answer check (algorithms.answers, as every sample is graded) and, with a
process weight, a PRM of the project (a transformers scorer, loaded once per job through the
model registry under the operator's model policy), combined by algorithms.rewards. It keeps
the records of its latest call; the job's progress callback stores a group of them with every
logging step, so the run page shows what the policy was rewarded for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from algorithms.rewards import (
    RewardRecord,
    RewardSpec,
    answer_verdicts,
    prm_steps,
    recorded_sample,
    reward_record,
)
from annotation.training.params import GRPOParams
from workers.backends.base import ScoreItem, ScorerError, StepScorer
from workers.backends.hf_loading import load_tokenizer, safe_loading
from workers.runners.common import equivalent_answers, load_scorer
from workers.training.callbacks import JobProgress
from workers.training.config import load_dtype, lora_config, on_gpu, trainer_arguments


class ProjectReward:
    """TRL's reward function: one reward per completion, from the answer check and the PRM."""

    __name__ = "project_reward"  # TRL names its reward logs after the function

    def __init__(self, spec: RewardSpec, scorer: StepScorer | None, group_size: int) -> None:
        self.spec = spec
        self.scorer = scorer
        self.marker = str(getattr(scorer, "marker", ""))  # the PRM's step marker token
        self.group_size = group_size
        self.latest: list[RewardRecord] = []

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        problem_id: Sequence[int],
        problem: Sequence[str],
        answer: Sequence[str | None],
        log_metric: Any = None,
        **_: Any,
    ) -> list[float | None]:  # TRL's type: None would leave a completion unrewarded
        texts = [completion_text(c) for c in completions]
        verdicts = answer_verdicts(texts, answer, equivalent_answers)
        steps: list[list[str] | None] = [None] * len(texts)
        scores: list[list[float] | None] = [None] * len(texts)
        if self.spec.uses_process:
            steps = [prm_steps(text, self.marker) for text in texts]
            scores = self.step_scores(problem, steps)
        records = [
            reward_record(
                problem_id=int(problem_id[i]),
                completion=texts[i],
                answer=verdicts[i][0],
                truth=answer[i],
                correct=verdicts[i][1],
                steps=steps[i],
                step_scores=scores[i],
                spec=self.spec,
            )
            for i in range(len(texts))
        ]
        self.latest = records
        if log_metric is not None and records:
            log_metric("reward/outcome", sum(r.outcome for r in records) / len(records))
            if self.spec.uses_process:
                log_metric("reward/process", sum(r.process or 0.0 for r in records) / len(records))
        rewards: list[float | None] = [r.reward for r in records]
        return rewards

    def step_scores(
        self, problems: Sequence[str], steps: Sequence[list[str] | None]
    ) -> list[list[float] | None]:
        """The PRM's score per step; None for a completion it cannot read (no step, or too
        long for it)."""
        assert self.scorer is not None  # a process weight comes with a PRM (GRPOParams)
        todo = [i for i, found in enumerate(steps) if found]
        items = [ScoreItem(problems[i], steps[i] or []) for i in todo]
        scores: list[list[float] | None] = [None] * len(steps)
        try:
            scored: list[list[float] | None] = list(self.scorer.score(items)) if items else []
        except ScorerError:  # one completion too long for the PRM: score them one by one
            scored = [self._score_one(item) for item in items]
        for i, found in zip(todo, scored, strict=True):
            scores[i] = found
        return scores

    def _score_one(self, item: ScoreItem) -> list[float] | None:
        assert self.scorer is not None
        try:
            return list(self.scorer.score([item])[0])
        except ScorerError:
            return None

    def take_recorded(self) -> list[dict[str, Any]]:
        """A group of the latest call's records, as JSON, for the logging step being written."""
        return [r.as_json() for r in recorded_sample(self.latest, self.group_size)]


def completion_text(completion: Any) -> str:
    """A completion's text: TRL gives a list of messages for a chat prompt, else a string."""
    if isinstance(completion, str):
        return completion
    return "".join(str(message.get("content") or "") for message in completion)


def load_reward_model(params: GRPOParams, device: str | None) -> StepScorer | None:
    """The job's PRM, loaded once through the registry (the operator's policy checked) on
    the device the policy trains on."""
    if params.reward_model is None:
        return None
    snapshot = params.reward_model
    if device is not None:
        snapshot = replace(snapshot, options={**snapshot.options, "device": device})
    return load_scorer(snapshot)


def vllm_generation() -> dict[str, Any]:
    """GRPOConfig's vLLM options from the operator's settings (none: transformers generates)."""
    mode = settings.STEPWISE_GRPO_VLLM
    if not mode:
        return {}
    options: dict[str, Any] = {"use_vllm": True, "vllm_mode": mode}
    if mode == "server" and settings.STEPWISE_GRPO_VLLM_SERVER:
        options["vllm_server_base_url"] = settings.STEPWISE_GRPO_VLLM_SERVER
    return options


def grpo_trainer(params: GRPOParams, dataset: Any, output_dir: Path, callbacks: list[Any]) -> Any:
    import trl

    hp = params.hyperparameters
    base = params.base
    path = base.path_or_endpoint
    trusted = base.trust_remote_code  # False unless an admin allowed the base model's code
    config = trl.GRPOConfig(
        **trainer_arguments(hp, output_dir),
        num_generations=hp.group_size,
        max_completion_length=hp.max_new_tokens,
        beta=hp.beta,
        model_init_kwargs={"dtype": load_dtype(base.dtype), **safe_loading(trusted)},
        **vllm_generation(),
    )
    reward = ProjectReward(
        params.reward,
        load_reward_model(params, str(config.device) if on_gpu() else None),
        hp.group_size,
    )
    for callback in callbacks:
        if isinstance(callback, JobProgress):
            callback.recorded_rewards = reward.take_recorded
    return trl.GRPOTrainer(
        model=path,
        reward_funcs=[reward],
        args=config,
        train_dataset=dataset,
        processing_class=load_tokenizer(path, padding_side="left", trust_remote_code=trusted),
        callbacks=callbacks,
        peft_config=lora_config(hp, "CAUSAL_LM"),
    )
