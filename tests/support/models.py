"""Tiny real models built once per test session (nothing is downloaded)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

_ROOT: Path | None = None
_BUILT: dict[str, Path] = {}

# vLLM's CPU build sizes its KV cache from this instead of a fraction of free memory.
VLLM_CPU_OPTIONS: dict[str, Any] = {"kv_cache_memory_bytes": 256 * 1024**2, "enforce_eager": True}


def _root() -> Path:
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="stepwise-tiny-models-"))
        atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
    return _ROOT


def tiny_model(kind: str) -> Path:
    """kind: "lm" (a causal LM), "math-shepherd" or "qwen-prm"; built on first use."""
    from workers.testing.tiny_models import build_tiny_causal_lm, build_tiny_prm

    if kind not in _BUILT:
        target = _root() / kind
        if kind == "lm":
            _BUILT[kind] = build_tiny_causal_lm(target, seed=0)
        else:
            _BUILT[kind] = build_tiny_prm(target, kind, seed=1)  # type: ignore[arg-type]
    return _BUILT[kind]
