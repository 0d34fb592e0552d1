"""Qwen2.5-Math-PRM style scoring on vLLM's pooling runner (token classification)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from algorithms.prm_inputs import QWEN_PRM_SYSTEM_PROMPT
from workers.backends.base import ScoreItem, check_one_score_per_step
from workers.backends.prm_scorers import (
    reject_marker_in_steps,
    render_qwen_prm_input,
    single_token_id,
)
from workers.backends.vllm_engine import start_engine, stop_engine


class VLLMPoolingScorer:
    """P(class 1) at each step separator, from `LLM.encode(..., pooling_task="token_classify")`.

    Works for any 2-label token-classification PRM vLLM can load, including
    Qwen2ForProcessRewardModel. vLLM batches and schedules the requests itself.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        step_separator: str = "<extra_0>",
        system_prompt: str = QWEN_PRM_SYSTEM_PROMPT,
        dtype: str = "auto",
        max_model_len: int | None = None,
        engine_options: Mapping[str, Any] | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.llm = start_engine(
            model_path,
            dtype=dtype,
            max_model_len=max_model_len,
            engine_options=engine_options or {},
            trust_remote_code=trust_remote_code,
            runner="pooling",
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.separator = step_separator
        self.system_prompt = system_prompt
        self.separator_id = single_token_id(self.tokenizer, step_separator)

    def close(self) -> None:
        stop_engine(self.llm)

    def score(self, items: Sequence[ScoreItem]) -> list[list[float]]:
        for item in items:
            reject_marker_in_steps(item, self.separator)
        texts = [
            render_qwen_prm_input(
                self.tokenizer, item.problem, item.steps, self.separator, self.system_prompt
            )
            for item in items
        ]
        outputs = self.llm.encode(
            texts,
            pooling_task="token_classify",
            use_tqdm=False,
            tokenization_kwargs={"add_special_tokens": False},
        )
        scores = []
        for output in outputs:
            # One row of class probabilities per prompt token.
            probabilities = output.outputs.data
            positions = [
                position
                for position, token_id in enumerate(output.prompt_token_ids)
                if token_id == self.separator_id
            ]
            scores.append([float(probabilities[position, 1]) for position in positions])
        return check_one_score_per_step(items, scores)
