"""The closed sets of names that the database, the typed job parameters and the workers share:
model backends, scorer heads and training methods, each written once here.

Each set is a `Literal` type (what mypy and `annotation.jobs.typed_json` check), and what a
page shows for a value sits beside it. The Django choices and check constraints
(`annotation/llm/models.py`, `annotation/training/models.py`) are read off these with
`labelled`, the job parameters (`annotation/jobs/params.py`, `annotation/training/params.py`)
and the workers' `ModelSpec` (`workers/backends/registry.py`) use the types, so adding a value is
one edit here (and a migration of the choices). No Django: the workers' backends read it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

# Model backends ---------------------------------------------------------------------------------

BackendKind = Literal["vllm", "openai", "transformers"]
BACKEND_LABELS: Mapping[str, str] = {
    "vllm": "vLLM (in-process)",
    "openai": "OpenAI-compatible endpoint",
    "transformers": "transformers",
}
# Backends that load a model directory in the worker (a training run can start from them).
LOCAL_BACKENDS: tuple[BackendKind, ...] = ("vllm", "transformers")

# Scorer heads: a model config with none ("" in its column, None in a snapshot) is a generator.
PRMHead = Literal["math-shepherd", "qwen-prm"]  # process reward models (a training run's head)
ScorerHead = Literal[PRMHead, "judge"]
NO_SCORER_HEAD = ""
SCORER_HEAD_LABELS: Mapping[str, str] = {
    NO_SCORER_HEAD: "None (a generator)",
    "math-shepherd": "Math-Shepherd style PRM",
    "qwen-prm": "Qwen2.5-Math-PRM style PRM",
    "judge": "LLM judge",
}

# Training methods ------------------------------------------------------------------------------

# Trained on an export in one run (TrainingParams); GRPO has parameters of its own (GRPOParams).
SupervisedMethod = Literal["sft", "dpo", "prm"]
TrainingMethod = Literal[SupervisedMethod, "grpo"]
METHOD_LABELS: Mapping[str, str] = {
    "sft": "SFT",
    "dpo": "DPO",
    "prm": "PRM fine-tuning",
    "grpo": "GRPO (+RL)",
}


def values(kind: Any) -> tuple[str, ...]:
    """The values of a `Literal` type, nested ones included, in their written order."""
    return tuple(get_args(kind))


PRM_HEADS: tuple[str, ...] = values(PRMHead)
SUPERVISED_METHODS: tuple[str, ...] = values(SupervisedMethod)


def labelled(
    kind: Any, labels: Mapping[str, str], *, blank: str | None = None
) -> list[tuple[str, str]]:
    """(value, label) pairs for a model field's choices: `blank` first when a column may hold
    it, then the type's values; a value with no label of its own is shown as written."""
    names = ([blank] if blank is not None else []) + list(values(kind))
    return [(name, labels.get(name, name)) for name in names]
