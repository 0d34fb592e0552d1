"""Process reward models run with transformers: every step scored in one forward pass.

A solution is rendered once with a marker token after each step; a causal model's output at a
marker depends only on the tokens before it, so reading all markers of the full solution gives
the same scores as scoring each step prefix on its own, at a fraction of the cost.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workers.backends.base import (
    BackendError,
    ScoreItem,
    ScorerError,
    check_one_score_per_step,
)
from workers.backends.hf_loading import load_model, load_tokenizer, safe_loading

QWEN_PRM_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


def single_token_id(tokenizer: Any, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise BackendError(
            f"{text!r} must be a single token in this model's tokenizer, got ids {ids}",
            retryable=False,
        )
    return int(ids[0])


def reject_marker_in_steps(item: ScoreItem, marker: str) -> None:
    # Rejected rather than escaped: an altered step would be a different step to score.
    for number, step in enumerate(item.steps, start=1):
        if marker in step:
            raise ScorerError(
                f"step {number} contains the scorer's step marker {marker!r}; "
                "remove it from the step text"
            )


def render_qwen_prm_input(
    tokenizer: Any, problem: str, steps: Sequence[str], separator: str
) -> str:
    """The Qwen2.5-Math-PRM conversation: the steps as the answer, a separator after each."""
    answer = "".join(f"{step}{separator}" for step in steps)
    messages = [
        {"role": "system", "content": QWEN_PRM_SYSTEM_PROMPT},
        {"role": "user", "content": problem},
        {"role": "assistant", "content": answer},
    ]
    return str(tokenizer.apply_chat_template(messages, tokenize=False))


def render_math_shepherd_input(problem: str, steps: Sequence[str], step_tag: str) -> str:
    """The Math-Shepherd input: the problem, then each step followed by the step tag."""
    return f"{problem} " + "\n".join(f"{step} {step_tag}" for step in steps)


class MarkerTokenScorer(ABC):
    """Shared batching for PRMs that read one marker token per step."""

    marker: str

    def __init__(
        self,
        model_path: str | Path,
        *,
        dtype: str = "float32",
        batch_size: int = 16,
        max_length: int | None = None,
        device: str = "cpu",
        trust_remote_code: bool = False,
    ) -> None:
        self.trust_remote_code = trust_remote_code
        # Right padding keeps every real token at the same position as when scored alone.
        self.tokenizer = load_tokenizer(
            model_path, padding_side="right", trust_remote_code=trust_remote_code
        )
        self.marker_id = self._single_token_id(self.marker)
        self.model = load_model(self._load_model, model_path, dtype=dtype, device=device)
        self.batch_size = batch_size
        self.max_length = max_length or self.tokenizer.model_max_length
        self.device = device

    @abstractmethod
    def _load_model(self, path: str, dtype: Any) -> Any: ...

    @abstractmethod
    def render(self, problem: str, steps: Sequence[str]) -> str:
        """The model input with one marker after each step."""

    @abstractmethod
    def _marker_probabilities(self, encoded: Any, is_marker: Any) -> Any:
        """The probability that the step is good at each marker, in row-major order."""

    def score(self, items: Sequence[ScoreItem]) -> list[list[float]]:
        for item in items:
            reject_marker_in_steps(item, self.marker)
        texts = [self.render(item.problem, item.steps) for item in items]
        return check_one_score_per_step(items, self._score_texts(texts))

    def score_each_prefix(self, items: Sequence[ScoreItem]) -> list[list[float]]:
        """Baseline: one forward pass per step prefix, reading only its last marker."""
        for item in items:
            reject_marker_in_steps(item, self.marker)
        scores = [
            [
                self._score_texts([self.render(item.problem, item.steps[: count + 1])])[0][-1]
                for count in range(len(item.steps))
            ]
            for item in items
        ]
        return check_one_score_per_step(items, scores)

    def _score_texts(self, texts: Sequence[str]) -> list[list[float]]:
        # Similar lengths share a batch so little compute goes to padding.
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        scores: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for index, text_scores in zip(
                batch, self._score_batch([texts[i] for i in batch]), strict=True
            ):
                scores[index] = text_scores
        return scores

    def _score_batch(self, texts: Sequence[str]) -> list[list[float]]:
        import torch

        encoded = self.tokenizer(
            list(texts), return_tensors="pt", padding=True, add_special_tokens=False
        )
        if encoded["input_ids"].shape[1] > self.max_length:
            raise ScorerError(
                f"solution of {encoded['input_ids'].shape[1]} tokens exceeds the scorer's "
                f"max_length of {self.max_length}; split it or raise max_length"
            )
        encoded = encoded.to(self.device)
        is_marker = (encoded["input_ids"] == self.marker_id) & encoded["attention_mask"].bool()
        with torch.inference_mode():
            probabilities = self._marker_probabilities(encoded, is_marker).float()
        per_row = is_marker.sum(dim=1).tolist()
        return [chunk.tolist() for chunk in probabilities.split(per_row)]

    def _single_token_id(self, text: str) -> int:
        return single_token_id(self.tokenizer, text)


class MathShepherdScorer(MarkerTokenScorer):
    """Causal LM PRM: P(good) = softmax over the good/bad token logits at each step tag."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        step_tag: str = "ки",
        good_token: str = "+",
        bad_token: str = "-",
        **options: Any,
    ) -> None:
        self.marker = step_tag
        super().__init__(model_path, **options)
        self.good_id = self._single_token_id(good_token)
        self.bad_id = self._single_token_id(bad_token)

    def _load_model(self, path: str, dtype: Any) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, **safe_loading(self.trust_remote_code)
        )

    def render(self, problem: str, steps: Sequence[str]) -> str:
        return render_math_shepherd_input(problem, steps, self.marker)

    def _marker_probabilities(self, encoded: Any, is_marker: Any) -> Any:
        import torch

        # Only the good/bad rows of the LM head, only at markers: full-vocabulary logits for
        # every position would cost a large share of the compute and batch x length x vocab
        # floats of memory.
        hidden = self.model.base_model(**encoded).last_hidden_state[is_marker]
        head = self.model.get_output_embeddings()
        rows = [self.good_id, self.bad_id]
        bias = None if head.bias is None else head.bias[rows]
        logits = torch.nn.functional.linear(hidden, head.weight[rows], bias)
        return logits.float().softmax(dim=-1)[:, 0]


class QwenPRMScorer(MarkerTokenScorer):
    """Token-classification PRM: P(class 1) of a 2-class head at each `<extra_0>` separator."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        step_separator: str = "<extra_0>",
        **options: Any,
    ) -> None:
        self.marker = step_separator
        super().__init__(model_path, **options)

    def _load_model(self, path: str, dtype: Any) -> Any:
        from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

        config = AutoConfig.from_pretrained(path, trust_remote_code=self.trust_remote_code)
        architectures = config.architectures or []
        # The released Qwen2.5-Math-PRM ships its head class as Python code in its directory;
        # without that code AutoModel would load a bare base model and score nonsense.
        custom = [name for name in architectures if name.endswith("ForProcessRewardModel")]
        if custom and not self.trust_remote_code:
            raise BackendError(
                f"{custom[0]} is defined by Python code in the model directory {path}; a "
                "project admin must allow trust_remote_code on this model config to load it",
                retryable=False,
            )
        if custom:
            return AutoModel.from_pretrained(path, dtype=dtype, **safe_loading(True))
        return AutoModelForTokenClassification.from_pretrained(
            path, dtype=dtype, **safe_loading(self.trust_remote_code)
        )

    def render(self, problem: str, steps: Sequence[str]) -> str:
        return render_qwen_prm_input(self.tokenizer, problem, steps, self.marker)

    def _marker_probabilities(self, encoded: Any, is_marker: Any) -> Any:
        output = self.model(**encoded)
        logits = output.logits if hasattr(output, "logits") else output[0]
        return logits[is_marker].float().softmax(dim=-1)[:, 1]
