"""Loading Hugging Face tokenizers and models with errors mapped to BackendError."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.backends.base import BackendError

DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


def load_tokenizer(path: str | Path, *, padding_side: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side=padding_side)
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
