"""Text generation with an in-process vLLM engine (GPU workers, and vLLM's CPU build in tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workers.backends.base import (
    BackendError,
    ChatMessage,
    Generation,
    SamplingParams,
    finish_reason_from,
)


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
        from vllm import LLM

        options: dict[str, Any] = {"enable_prefix_caching": True, **(engine_options or {})}
        if max_model_len is not None:
            options["max_model_len"] = max_model_len
        try:
            self.llm = LLM(
                model=str(model_path),
                dtype=dtype,  # type: ignore[arg-type]
                trust_remote_code=trust_remote_code,
                **options,
            )
        except (OSError, ValueError) as error:
            raise BackendError(
                f"cannot load model {model_path}: {error}", retryable=False
            ) from error
        except RuntimeError as error:
            # Engine start-up failures (e.g. not enough memory for the KV cache) can pass once
            # another model is unloaded, so a later retry may help.
            raise BackendError(f"vLLM engine failed to start: {error}", retryable=True) from error

    def close(self) -> None:
        """Stop the engine's subprocesses and free its KV cache."""
        self.llm.llm_engine.engine_core.shutdown()

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
