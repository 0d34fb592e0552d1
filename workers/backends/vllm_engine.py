"""Starting and stopping one in-process vLLM engine (the generator's and the pooling scorer's)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.backends.base import BackendError

if TYPE_CHECKING:
    from vllm import LLM


def start_engine(
    model_path: str | Path,
    *,
    dtype: str,
    max_model_len: int | None,
    engine_options: Mapping[str, Any],
    trust_remote_code: bool,
    **settings: Any,
) -> LLM:
    """A `vllm.LLM` on the model (`settings` first, the model config's `engine_options` over
    them); a model that cannot load is a final error, an engine that fails to start (e.g. not
    enough memory for the KV cache) may start once another model is unloaded: retryable."""
    from vllm import LLM

    options: dict[str, Any] = {**settings, **engine_options}
    if max_model_len is not None:
        options["max_model_len"] = max_model_len
    try:
        return LLM(
            model=str(model_path),
            dtype=dtype,  # type: ignore[arg-type]
            trust_remote_code=trust_remote_code,
            **options,
        )
    except (OSError, ValueError) as error:
        raise BackendError(f"cannot load model {model_path}: {error}", retryable=False) from error
    except RuntimeError as error:
        raise BackendError(f"vLLM engine failed to start: {error}", retryable=True) from error


def stop_engine(llm: LLM) -> None:
    """Stop the engine's subprocesses and free its KV cache."""
    llm.llm_engine.engine_core.shutdown()
