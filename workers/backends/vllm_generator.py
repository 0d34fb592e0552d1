"""Text generation with an in-process vLLM engine (GPU workers, and vLLM's CPU build in tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workers.backends.base import (
    ChatMessage,
    Generation,
    SamplingParams,
    finish_reason_from,
)
from workers.backends.vllm_engine import start_engine, stop_engine


class VLLMGenerator:
    """One `vllm.LLM` engine with prefix caching; `n` samples per prompt in one request.

    Start it only from a process's main module (`if __name__ == "__main__":`) or a worker that
    was not forked after torch was initialised: the engine starts its own subprocesses.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
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
            enable_prefix_caching=True,
        )

    def close(self) -> None:
        """Stop the engine's subprocesses and free its KV cache."""
        stop_engine(self.llm)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Generation]]:
        outputs = self.llm.generate(list(prompts), self._sampling_params(params), use_tqdm=False)
        return [self._generations(output) for output in outputs]

    def generate_chat(
        self, messages_list: Sequence[Sequence[ChatMessage]], params: SamplingParams
    ) -> list[list[Generation]]:
        conversations: Any = [list(messages) for messages in messages_list]
        outputs = self.llm.chat(conversations, self._sampling_params(params), use_tqdm=False)
        return [self._generations(output) for output in outputs]

    @staticmethod
    def _sampling_params(params: SamplingParams) -> Any:
        import vllm

        return vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=params.seed,
            stop=list(params.stop) or None,
        )

    @staticmethod
    def _generations(request_output: Any) -> list[Generation]:
        completions = sorted(request_output.outputs, key=lambda completion: completion.index)
        return [
            Generation(
                text=completion.text,
                token_count=len(completion.token_ids),
                finish_reason=finish_reason_from(completion.finish_reason, source="vLLM"),
            )
            for completion in completions
        ]
