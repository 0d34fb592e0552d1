"""Text generation with Hugging Face transformers: the CPU fallback and the reference backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workers.backends.base import (
    ChatMessage,
    FinishReason,
    Generation,
    SamplingParams,
)
from workers.backends.hf_loading import load_model, load_tokenizer, safe_loading


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string; say whether one was found."""
    cut = min((index for stop in stops if (index := text.find(stop)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class TransformersGenerator:
    """Batched `model.generate` with left padding, n samples per prompt, stop strings, seeds."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        dtype: str = "float32",
        batch_size: int = 8,
        device: str = "cpu",
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModelForCausalLM

        # Left padding keeps every prompt's last token at the end of the row, where generation
        # continues; right padding would make short prompts continue after pad tokens.
        self.tokenizer = load_tokenizer(
            model_path, padding_side="left", trust_remote_code=trust_remote_code
        )
        self.model = load_model(
            lambda path, torch_dtype: AutoModelForCausalLM.from_pretrained(
                path, dtype=torch_dtype, **safe_loading(trust_remote_code)
            ),
            model_path,
            dtype=dtype,
            device=device,
        )
        self.batch_size = batch_size
        self.device = device

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Generation]]:
        import torch

        results: list[list[Generation]] = []
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            for start in range(0, len(prompts), self.batch_size):
                results.extend(
                    self._generate_batch(prompts[start : start + self.batch_size], params)
                )
        return results

    def generate_chat(
        self, messages_list: Sequence[Sequence[ChatMessage]], params: SamplingParams
    ) -> list[list[Generation]]:
        prompts = [
            self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=True
            )
            for messages in messages_list
        ]
        return self.generate(prompts, params)

    def _generate_batch(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Generation]]:
        encoded = self.tokenizer(
            list(prompts), return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
            if params.temperature > 0
            else {"do_sample": False}
        )
        if params.stop:
            sampling.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        output = self.model.generate(
            **encoded,
            max_new_tokens=params.max_tokens,
            num_return_sequences=params.n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            top_k=None,
            **sampling,
        )
        new_tokens = output[:, encoded["input_ids"].shape[1] :].tolist()
        generations = [self._to_generation(ids, params) for ids in new_tokens]
        return [generations[i : i + params.n] for i in range(0, len(generations), params.n)]

    def _to_generation(self, token_ids: list[int], params: SamplingParams) -> Generation:
        eos = self.tokenizer.eos_token_id
        ended_by_eos = eos in token_ids
        if ended_by_eos:
            token_ids = token_ids[: token_ids.index(eos) + 1]
        text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        text, stopped = truncate_at_stop(text, params.stop)
        if stopped:
            token_ids = token_ids[: self._tokens_until_stop(token_ids, params.stop)]
        finish: FinishReason = "stop" if stopped or ended_by_eos else "length"
        return Generation(text=text, token_count=len(token_ids), finish_reason=finish)

    def _tokens_until_stop(self, token_ids: list[int], stops: Sequence[str]) -> int:
        """Number of generated tokens up to the one that completed a stop string."""
        for count in range(1, len(token_ids) + 1):
            partial = self.tokenizer.decode(token_ids[:count], skip_special_tokens=True)
            if truncate_at_stop(partial, stops)[1]:
                return count
        return len(token_ids)
