"""Trainer arguments, LoRA configuration and load options from a job's hyperparameters: the
same for SFT, DPO and PRM runs, and for the plain TRL script of bench/train_overhead.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algorithms.training import Hyperparameters

# Two checkpoints: if a worker dies while writing the newer one, the older one is complete.
CHECKPOINTS_KEPT = 2


def on_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def trainer_arguments(hp: Hyperparameters, output_dir: Path) -> dict[str, Any]:
    """Keyword arguments for TrainingArguments, SFTConfig or DPOConfig."""
    gpu = on_gpu()
    bf16 = False
    if gpu:
        import torch

        bf16 = bool(torch.cuda.is_bf16_supported())
    return {
        "output_dir": str(output_dir),
        "num_train_epochs": hp.epochs,
        "max_steps": hp.max_steps if hp.max_steps is not None else -1,
        "learning_rate": hp.learning_rate,
        "per_device_train_batch_size": hp.batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation,
        "warmup_steps": hp.warmup_steps,
        "seed": hp.seed,
        "logging_steps": hp.logging_steps,
        "save_strategy": "steps",
        "save_steps": hp.save_steps,
        "save_total_limit": CHECKPOINTS_KEPT,
        "report_to": [],
        "use_cpu": not gpu,
        "bf16": bf16,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }


def load_dtype(base_dtype: str) -> str:
    """float32 on CPU (no fast half precision there); on a GPU the base model's own dtype."""
    return base_dtype if on_gpu() else "float32"


def lora_config(
    hp: Hyperparameters, task_type: str, modules_to_save: list[str] | None = None
) -> Any:
    """Adapters on every linear layer; `modules_to_save` are trained in full (a new head)."""
    if not hp.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=0.05,
        target_modules="all-linear",
        task_type=task_type,
        modules_to_save=modules_to_save,
    )
