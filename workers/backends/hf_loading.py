"""Loading Hugging Face tokenizers and models with errors mapped to BackendError.

A model directory can hold Python code (config.json or tokenizer_config.json `auto_map`
entries naming classes in .py files beside them). Every loader here passes
`trust_remote_code` explicitly, False unless the model config allows it (a project admin's
decision), so that such code never runs by default and transformers never asks on stdin.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.backends.base import BackendError

DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


def safe_loading(trust_remote_code: bool) -> dict[str, Any]:
    """Keyword arguments for a model's `from_pretrained`: code from the directory runs only
    when trusted; weights stored as pickles load as tensors only, never as objects."""
    return {"trust_remote_code": trust_remote_code, "weights_only": True}


def load_tokenizer(path: str | Path, *, padding_side: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(path), padding_side=padding_side, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as error:
        raise BackendError(
            f"cannot load tokenizer from {path}: {error}", retryable=False
        ) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    load: Callable[[str, Any], Any], path: str | Path, *, dtype: str, device: str
) -> Any:
    """Call `load(path, torch_dtype)`, move the model to `device` and put it in eval mode."""
    import torch

    if dtype not in DTYPE_NAMES:
        raise BackendError(f"unknown dtype {dtype!r}; use one of {DTYPE_NAMES}", retryable=False)
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    try:
        model = load(str(path), torch_dtype)
    except (OSError, ValueError) as error:
        raise BackendError(f"cannot load model {path}: {error}", retryable=False) from error
    model.to(device)
    model.eval()
    return model
