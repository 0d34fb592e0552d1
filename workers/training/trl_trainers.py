"""SFT and DPO with TRL: SFTTrainer on a messages export (sft-shortcut, sft-journey),
DPOTrainer on a dpo export, from a base model or an SFT checkpoint. DPO's reference model is
the starting model (with LoRA: the same model with its adapters disabled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotation.training.params import TrainingParams
from workers.backends.hf_loading import load_tokenizer, safe_loading
from workers.training.config import load_dtype, lora_config, trainer_arguments


def trl_trainer(
    params: TrainingParams, dataset: Any, output_dir: Path, callbacks: list[Any]
) -> Any:
    import trl

    hp = params.hyperparameters
    config_class: Any = trl.SFTConfig
    trainer_class: Any = trl.SFTTrainer
    extra: dict[str, Any] = {}
    if params.method == "dpo":
        config_class, trainer_class, extra = trl.DPOConfig, trl.DPOTrainer, {"beta": hp.beta}
    base = params.base
    path = base.path_or_endpoint
    trusted = base.trust_remote_code  # False unless an admin allowed the base model's code
    return trainer_class(
        model=path,
        args=config_class(
            **trainer_arguments(hp, output_dir),
            max_length=hp.max_length,
            model_init_kwargs={"dtype": load_dtype(base.dtype), **safe_loading(trusted)},
            **extra,
        ),
        train_dataset=dataset,
        processing_class=load_tokenizer(path, padding_side="right", trust_remote_code=trusted),
        callbacks=callbacks,
        peft_config=lora_config(hp, "CAUSAL_LM"),
    )
