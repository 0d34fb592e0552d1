"""The small world's tiny model, trained on this machine's CPU (nothing is downloaded):

    python -m workers.small_world_model var/small-world-model

A Llama of the demo model's shape (head size 64, which vLLM's CPU kernels need), a little
deeper, with a tokenizer that makes every digit its own token and every newline its own token
(so a prompt cut at a step boundary tokenizes as it did in training). It is trained with the
project's SFT settings (`algorithms.training.Hyperparameters` -> `workers.training.config`
-> TRL's SFTTrainer) on worked solutions of `algorithms.small_world`, each prompted with the
project's built-in sample prompt, so that sample, tree, Monte-Carlo and evaluation jobs (with
the chat template off) see the text it learned. It is trained just enough to solve part of the
held-out problems and slip on the rest; the build writes what it measured to
`small_world.json` in the model directory. Seeded: the same arguments give the same model on
the same machine and library versions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import django

from algorithms import small_world
from algorithms.prompts import render_prompt
from algorithms.training import Hyperparameters
from workers.testing.tiny_models import (
    SPECIAL_TOKENS,
    UNK_TOKEN,
    fast_tokenizer,
)
from workers.training.config import trainer_arguments

REPORT_NAME = "small_world.json"
VOCAB_SIZE = 512
# Newlines and single digits are tokens of their own; a word takes the space before it.
PRE_TOKEN_PATTERN = r"\n| ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]+| "


@dataclass(frozen=True)
class BuildSettings:
    seed: int = 0
    train_problems: int = 8000
    epochs: float = 5.0
    learning_rate: float = 3e-3
    batch_size: int = 16
    hidden_size: int = 128
    layers: int = 2
    test_problems: int = 200  # held out; accuracy is measured on them after training
    test_seed: int = 0


@dataclass(frozen=True)
class BuildReport:
    settings: dict[str, Any]
    accuracy: float  # greedy, on the held-out problems
    accuracy_by_level: dict[str, float]
    test_problems: int
    train_seconds: float
    total_seconds: float
    load_average: str  # `uptime`'s three numbers when the build ended
    parameters: int


# The prompts the model is trained under: the built-in sample prompt (sample, Monte-Carlo and
# evaluation jobs), the tree form's default prompt and the bare problem (a tree job started
# from code). Another prompt works less well: the model has never read it.
TREE_FORM_PROMPT = small_world.TREE_FORM_PROMPT
BARE_PROMPT = "{{ problem }}"


def prompt_templates() -> list[str]:
    from annotation.llm.defaults import SAMPLE_PROMPT  # needs Django set up: main() does

    return [SAMPLE_PROMPT, SAMPLE_PROMPT, TREE_FORM_PROMPT, BARE_PROMPT]


def prompt_headers() -> list[str]:
    """The fixed text of each prompt before the problem (one token each)."""
    return [h for h in {t.split("{{", 1)[0] for t in prompt_templates()} if h]


def prompt_of(problem: small_world.Problem, template: str | None = None) -> str:
    """The text a job sends for this problem (by default: the built-in sample prompt)."""
    return render_prompt(template or prompt_templates()[0], {"problem": problem.text})


def completion_of(problem: small_world.Problem) -> str:
    """A worked solution as a sample continues the prompt: a blank line, then the steps (a
    tree job's prompt ends with the blank line; the tokenizer reads both alike)."""
    return "\n\n" + problem.solution()


def training_rows(settings: BuildSettings) -> list[dict[str, str]]:
    # Level 1 has only some hundreds of distinct problems: a few, the rest longer chains.
    short = settings.train_problems // 20
    problems = [
        *small_world.generate(short, seed=settings.seed, split="train", levels=(1,)),
        *small_world.generate(
            settings.train_problems - short, seed=settings.seed, split="train", levels=(2, 3, 4, 5)
        ),
    ]
    templates = prompt_templates()
    return [
        {"prompt": prompt_of(p, templates[i % len(templates)]), "completion": completion_of(p)}
        for i, p in enumerate(problems)
    ]


def build_tokenizer(path: Path, texts: list[str]) -> Any:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRE_TOKEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    # A prompt's fixed text is one token: rows start with it, and its 40-odd word tokens
    # would double the cost of training on a CPU.
    bpe.add_tokens([AddedToken(h, normalized=False) for h in sorted(prompt_headers())])
    tokenizer = fast_tokenizer(bpe, model_max_length=1024)
    tokenizer.save_pretrained(str(path))
    return tokenizer


def add_layout_normalizer(tokenizer: Any) -> None:
    """Read a problem's "?" followed by exactly one blank line as "?" and three newlines.

    A tree job sends the rendered prompt, a blank line, then the steps; the sample prompt ends
    with a newline of its own and the tree form's prompt without one, so the model would meet
    the first step after three newlines or after two. It learned both, and still sometimes
    answered the two-newline layout with a blank line (an empty first step); read alike, every
    layout is the one most of its training rows had. Added after training (the rows were
    trained as the runners write them); only encoding changes, decoding does not.
    """
    from tokenizers import Regex, normalizers

    tokenizer.backend_tokenizer.normalizer = normalizers.Replace(Regex(r"\?\n\n(?!\n)"), "?\n\n\n")


def new_model(tokenizer: Any, settings: BuildSettings) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(settings.seed)
    heads = settings.hidden_size // 64  # head_dim 64: vLLM's CPU attention rejects smaller
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        intermediate_size=settings.hidden_size * 2,
        num_hidden_layers=settings.layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=64,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="float32",
    )
    return LlamaForCausalLM(config)


def train(
    model: Any, tokenizer: Any, rows: list[dict[str, str]], settings: BuildSettings, out: Path
) -> float:
    """SFT with the project's trainer settings; returns the seconds it took."""
    import datasets
    import trl

    hp = Hyperparameters(
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        gradient_accumulation=1,
        max_length=256,
        seed=settings.seed,
        warmup_steps=20,
        logging_steps=25,
        save_steps=1_000_000,  # one build, no resuming: no checkpoints
    )
    arguments = trainer_arguments(hp, out / "checkpoints")
    arguments["lr_scheduler_type"] = "cosine"
    trainer = trl.SFTTrainer(
        model=model,
        args=trl.SFTConfig(**arguments, max_length=hp.max_length),
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    started = time.monotonic()
    trainer.train()
    return time.monotonic() - started


def solve(
    model: Any, tokenizer: Any, problems: list[small_world.Problem], *, batch: int = 50
) -> list[str]:
    """Greedy solutions of `problems`, as a sample job would get them."""
    import torch

    tokenizer.padding_side = "left"
    texts = []
    for start in range(0, len(problems), batch):
        prompts = [prompt_of(p) for p in problems[start : start + batch]]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            output = model.generate(
                **encoded,
                max_new_tokens=160,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        width = encoded["input_ids"].shape[1]
        texts.extend(tokenizer.batch_decode(output[:, width:], skip_special_tokens=True))
    return texts


def held_out_accuracy(
    model: Any, tokenizer: Any, settings: BuildSettings
) -> tuple[float, dict[str, float]]:
    problems = small_world.generate(settings.test_problems, seed=settings.test_seed, split="test")
    solutions = solve(model, tokenizer, problems)
    right = [
        small_world.verify(p, s).answer_correct for p, s in zip(problems, solutions, strict=True)
    ]
    by_level: dict[str, list[bool]] = {}
    for problem, ok in zip(problems, right, strict=True):
        by_level.setdefault(str(problem.level), []).append(ok)
    return (
        sum(right) / len(right),
        {level: round(sum(oks) / len(oks), 3) for level, oks in sorted(by_level.items())},
    )


def build_small_world_model(path: str | Path, settings: BuildSettings) -> BuildReport:
    """Train the model into `path` (replacing what is there) and return what was measured."""
    import torch

    started = time.monotonic()
    # One thread: on cores shared with other work, two threads wait on each other (measured
    # 4-5 times slower per step here under load).
    torch.set_num_threads(1)
    torch.manual_seed(settings.seed)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = training_rows(settings)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".small-world-") as tmp:
        built = Path(tmp) / "model"
        tokenizer = build_tokenizer(built, [r["prompt"] + r["completion"] for r in rows])
        model = new_model(tokenizer, settings)
        train_seconds = train(model, tokenizer, rows, settings, Path(tmp))
        model.eval()
        accuracy, by_level = held_out_accuracy(model, tokenizer, settings)
        model.config.use_cache = True
        model.save_pretrained(str(built))
        add_layout_normalizer(tokenizer)
        tokenizer.padding_side = "right"
        tokenizer.save_pretrained(str(built))
        report = BuildReport(
            settings=asdict(settings),
            accuracy=round(accuracy, 3),
            accuracy_by_level=by_level,
            test_problems=settings.test_problems,
            train_seconds=round(train_seconds, 1),
            total_seconds=round(time.monotonic() - started, 1),
            load_average=" ".join(f"{x:.2f}" for x in os.getloadavg()),
            parameters=sum(p.numel() for p in model.parameters()),
        )
        (built / REPORT_NAME).write_text(json.dumps(asdict(report), indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        built.rename(target)
    return report


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
    django.setup()
    parser = argparse.ArgumentParser(prog="python -m workers.small_world_model")
    parser.add_argument("directory", type=Path)
    defaults = BuildSettings()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv[1:])
    settings = BuildSettings(**{k: v for k, v in vars(args).items() if k != "directory"})
    report = build_small_world_model(args.directory, settings)
    print(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
