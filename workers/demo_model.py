"""The demo's model, built on this machine (nothing is downloaded): `make run` calls

    python -m workers.demo_model var/demo-model

It is the tests' tiny Llama (2 layers, a byte-level BPE tokenizer trained in-process, random
seeded weights) saved as an ordinary Hugging Face directory, so every model job can be started
from the browser on a CPU on the first day. Its weights are random: its text is noise. The same
directory serves as a Math-Shepherd style PRM (its tokenizer has the step tag and the "+" / "-"
tokens). Run by the Makefile in its own process: the web process never imports torch.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from workers.testing.tiny_models import build_tiny_causal_lm


def build_demo_model(path: str | Path) -> Path:
    """Build the model into `path` unless it is there already; returns `path`."""
    target = Path(path)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and moved into place, so a half-built directory never counts.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".demo-model-") as tmp:
        built = build_tiny_causal_lm(Path(tmp) / "model", seed=0)
        if target.exists():
            shutil.rmtree(target)
        built.rename(target)
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m workers.demo_model DIRECTORY", file=sys.stderr)
        return 2
    path = build_demo_model(argv[1])
    print(f"The demo model (tiny, random weights: its text is noise) is in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
