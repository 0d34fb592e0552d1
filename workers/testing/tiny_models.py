"""Tiny real models built in-process for tests and benchmarks.

Nothing is downloaded: a byte-level BPE tokenizer is trained on a small generated math corpus,
a Llama config gets random seeded weights, and everything is saved as an ordinary Hugging Face
model directory, so it loads through the same `from_pretrained` / `vllm.LLM(model=path)` path
as a real model.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
# Math-Shepherd marks the end of each step with this tag and reads "+" / "-" logits there.
MATH_SHEPHERD_STEP_TAG = "ки"
MATH_SHEPHERD_GOOD_TOKEN = "+"
MATH_SHEPHERD_BAD_TOKEN = "-"
# Qwen2.5-Math-PRM puts this separator after each step and classifies it.
QWEN_PRM_STEP_SEPARATOR = "<extra_0>"
SPECIAL_TOKENS = (
    BOS_TOKEN,
    EOS_TOKEN,
    PAD_TOKEN,
    UNK_TOKEN,
    *ROLE_TOKENS,
    MATH_SHEPHERD_STEP_TAG,
    QWEN_PRM_STEP_SEPARATOR,
)
VOCAB_SIZE = 640

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '</s>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

PrmKind = Literal["math-shepherd", "qwen-prm"]


def math_corpus(lines: int = 2000, *, seed: int = 0) -> list[str]:
    """Small generated corpus of arithmetic word problems and step-by-step solutions."""
    rng = random.Random(seed)
    names = ["Ann", "Bob", "Carl", "Dana", "Eve", "Finn", "Gia", "Hal"]
    things = ["apples", "pens", "books", "coins", "cards", "eggs", "stones", "cups"]
    words = [
        "Step",
        "so",
        "the",
        "answer",
        "is",
        "we",
        "have",
        "total",
        "each",
        "then",
        "therefore",
        "let",
        "solve",
        "for",
        "x",
        "equation",
        "sum",
        "product",
        "Wait",
        "check",
        "again",
        "correct",
        "incorrect",
        "because",
        "boxed",
    ]
    corpus = []
    for _ in range(lines):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        name, thing = rng.choice(names), rng.choice(things)
        op, result = rng.choice([("+", a + b), ("-", a - b), ("*", a * b)])
        corpus.append(f"{name} has {a} {thing} and gets {b} more. How many {thing}?")
        corpus.append(
            f"Step {rng.randint(1, 9)}: {a} {op} {b} = {result}. So the answer is {result}."
        )
        corpus.append(" ".join(rng.choice(words) for _ in range(12)))
        corpus.append(f"Let x + {a} = {b}. Then x = {b - a}, so $\\boxed{{{b - a}}}$.")
    return corpus


def build_tiny_tokenizer(path: str | Path) -> Path:
    """Train a byte-level BPE tokenizer with chat template and PRM tokens; save it to `path`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(math_corpus(), trainer=trainer)
    fast_tokenizer(bpe, model_max_length=2048).save_pretrained(str(target))
    return target


def fast_tokenizer(bpe: Any, *, model_max_length: int) -> Any:
    """A trained tokenizers.Tokenizer as the transformers tokenizer of the project's tiny
    models: their special tokens, step markers and chat template."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        additional_special_tokens=[*ROLE_TOKENS, MATH_SHEPHERD_STEP_TAG, QWEN_PRM_STEP_SEPARATOR],
        chat_template=CHAT_TEMPLATE,
        model_max_length=model_max_length,
    )


def _llama_config(vocab_size: int, tokenizer: Any, **extra: Any) -> Any:
    from transformers import LlamaConfig

    # head_dim 64 because vLLM's CPU attention kernels reject smaller head sizes.
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="float32",
        # Wider than the default 0.02 so that scores and samples differ clearly between inputs.
        initializer_range=0.2,
        **extra,
    )


def _build_model(path: str | Path, model_class_name: str, *, seed: int, **config: Any) -> Path:
    import torch
    import transformers
    from transformers import AutoTokenizer

    target = build_tiny_tokenizer(path)
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    torch.manual_seed(seed)
    model_class = getattr(transformers, model_class_name)
    model = model_class(_llama_config(len(tokenizer), tokenizer, **config))
    model.save_pretrained(str(target))
    return target


def build_tiny_causal_lm(path: str | Path, *, seed: int = 0) -> Path:
    """A 2-layer Llama causal LM with random seeded weights, saved with its tokenizer."""
    return _build_model(path, "LlamaForCausalLM", seed=seed)


def build_tiny_prm(path: str | Path, kind: PrmKind, *, seed: int = 0) -> Path:
    """A tiny process reward model in the layout of Math-Shepherd or Qwen2.5-Math-PRM.

    math-shepherd: a causal LM whose "+" / "-" logits at each step tag `ки` give the step score.
    qwen-prm: a 2-class token-classification head read at each `<extra_0>` separator.
    """
    if kind == "math-shepherd":
        return build_tiny_causal_lm(path, seed=seed)
    if kind == "qwen-prm":
        return _build_model(path, "LlamaForTokenClassification", seed=seed, num_labels=2)
    raise ValueError(f"unknown PRM kind {kind!r}; expected 'math-shepherd' or 'qwen-prm'")
