"""PRM fine-tuning with transformers' Trainer (TRL ships no PRM trainer any more).

Each solution is rendered exactly as the scorers of workers/backends/prm_scorers.py render it,
with a marker token after every step, and the loss is the cross-entropy of the two-way
good/bad prediction at the markers only:

- math-shepherd: a causal LM, the `+` / `-` logits at each `ки` tag;
- qwen-prm: a two-class token-classification head (class 1 good) at each `<extra_0>`.

Targets are P(good) in [0, 1]: 1 or 0 for hard labels, the Monte-Carlo estimate for soft
ones. The saved model therefore loads in the existing scorers unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithms.prm_inputs import math_shepherd_input
from annotation.datasets.formats import math_shepherd
from annotation.training.params import TrainingParams
from workers.backends.base import BackendError
from workers.backends.hf_loading import load_tokenizer, safe_loading
from workers.backends.prm_scorers import render_qwen_prm_input, single_token_id
from workers.training.config import load_dtype, lora_config, trainer_arguments

MATH_SHEPHERD_TAG = math_shepherd.TAG
QWEN_SEPARATOR = "<extra_0>"
GOOD_TOKEN, BAD_TOKEN = "+", "-"  # MathShepherdScorer's defaults
MARKERS = {"math-shepherd": MATH_SHEPHERD_TAG, "qwen-prm": QWEN_SEPARATOR}
NOT_A_STEP = -1.0  # the target of every token that is not a step marker


@dataclass(frozen=True)
class StepExample:
    problem: str
    steps: list[str]
    targets: list[float]  # P(good) per step


def step_examples(format_name: str, rows: Any) -> Iterator[StepExample]:
    """Problem, steps and targets from rows of a trl-stepwise, math-shepherd or qwen-prm
    export; trl-stepwise labels may be booleans or soft values in [0, 1]."""
    for number, row in enumerate(rows, start=1):
        if format_name == "trl-stepwise":
            targets = [float(label) for label in row["labels"]]
            yield StepExample(row["prompt"], list(row["completions"]), targets)
        elif format_name == "math-shepherd":
            record = math_shepherd.parse(number, row)
            trace = record.trace
            assert trace is not None  # parse always reads a trace from a math-shepherd row
            yield StepExample(
                record.problem.text,
                [step.text for step in trace.steps],
                [1.0 if (step.rating or 0) > 0 else 0.0 for step in trace.steps],
            )
        elif format_name == "qwen-prm":
            user = next(m["content"] for m in row["messages"] if m["role"] == "user")
            answer = next(m["content"] for m in row["messages"] if m["role"] == "assistant")
            steps = answer.split(QWEN_SEPARATOR)[:-1]
            yield StepExample(user, steps, [float(label) for label in row["labels"]])
        else:
            raise BackendError(f"PRM training cannot read {format_name!r} rows", retryable=False)


def encode(
    example: StepExample, tokenizer: Any, head: str, marker_id: int, max_length: int
) -> dict[str, list[Any]] | None:
    """Token ids and a target per token (NOT_A_STEP except at markers); None for a row whose
    step text contains the marker itself (the scorers refuse such steps too)."""
    marker = MARKERS[head]
    if any(marker in step for step in example.steps) or len(example.targets) != len(example.steps):
        return None
    if head == "math-shepherd":
        text = math_shepherd_input(example.problem, example.steps, tag=marker)
    else:
        text = render_qwen_prm_input(tokenizer, example.problem, example.steps, marker)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    positions = [i for i, token in enumerate(ids) if token == marker_id]
    if len(positions) != len(example.steps):
        return None
    ids = ids[:max_length]  # the steps past the limit are not trained on
    targets = [NOT_A_STEP] * len(ids)
    for position, target in zip(positions, example.targets, strict=True):
        if position < max_length:
            targets[position] = target
    if all(t == NOT_A_STEP for t in targets):
        return None
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "step_targets": targets}


class StepCollator:
    """Right-pads a batch (padding is never a marker, so its target is NOT_A_STEP)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, list[Any]]]) -> dict[str, Any]:
        import torch

        width = max(len(row["input_ids"]) for row in rows)

        def pad(key: str, value: Any) -> list[list[Any]]:
            return [row[key] + [value] * (width - len(row[key])) for row in rows]

        return {
            "input_ids": torch.tensor(pad("input_ids", self.pad_id)),
            "attention_mask": torch.tensor(pad("attention_mask", 0)),
            "step_targets": torch.tensor(pad("step_targets", NOT_A_STEP), dtype=torch.float32),
        }


def step_loss(logits: Any, targets: Any, columns: tuple[int, int]) -> Any:
    """Mean soft cross-entropy of P(good) at the markers; `columns` are the (good, bad) logit
    indices: the `+` / `-` token ids, or classes (1, 0) of a token-classification head."""
    marked = targets >= 0
    pair = logits[marked][:, list(columns)].float().log_softmax(dim=-1)
    wanted = targets[marked]
    losses = -(wanted * pair[:, 0] + (1.0 - wanted) * pair[:, 1])
    return losses.sum() / marked.sum().clamp(min=1)


def prm_trainer(
    params: TrainingParams, dataset: Any, output_dir: Path, callbacks: list[Any]
) -> Any:
    import datasets
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    head = params.head or "math-shepherd"
    hp = params.hyperparameters
    base = params.base
    path = base.path_or_endpoint
    trusted = base.trust_remote_code  # False unless an admin allowed the base model's code
    tokenizer = load_tokenizer(path, padding_side="right", trust_remote_code=trusted)
    marker_id = single_token_id(tokenizer, MARKERS[head])
    dtype = getattr(torch, load_dtype(base.dtype), "auto")
    if head == "math-shepherd":
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **safe_loading(trusted))
        columns = (
            single_token_id(tokenizer, GOOD_TOKEN),
            single_token_id(tokenizer, BAD_TOKEN),
        )
        task = "CAUSAL_LM"
    else:
        model = AutoModelForTokenClassification.from_pretrained(
            path, num_labels=2, dtype=dtype, **safe_loading(trusted)
        )
        columns, task = (1, 0), "TOKEN_CLS"
    peft = lora_config(hp, task)
    if peft is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft)
    encoded = [
        row
        for example in step_examples(params.export.format, dataset)
        if (row := encode(example, tokenizer, head, marker_id, hp.max_length)) is not None
    ]
    if not encoded:
        raise BackendError(
            f"no row of export {params.export.job} has a step the {head} head can be trained on",
            retryable=False,
        )

    class PRMTrainer(Trainer):
        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            targets = inputs.pop("step_targets")
            outputs = model(**inputs)
            loss = step_loss(outputs.logits, targets, columns)
            return (loss, outputs) if return_outputs else loss

    trainer = PRMTrainer(
        model=model,
        args=TrainingArguments(**trainer_arguments(hp, output_dir), remove_unused_columns=False),
        train_dataset=datasets.Dataset.from_list(encoded),
        data_collator=StepCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.model_accepts_loss_kwargs = False  # the mean is per batch; the Trainer scales it
    return trainer
