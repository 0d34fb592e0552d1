"""Generation throughput: vLLM's CPU engine vs transformers `generate`, same tiny model and prompts.

Run: python bench/generation.py  (starts a vLLM engine: about 30 s before the first figure)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for `workers`

from algorithms.sampling import SamplingParams
from workers.backends.base import Generator
from workers.testing.tiny_models import build_tiny_causal_lm
from workers.testing.vllm_cpu import CPU_ENGINE_OPTIONS

PROMPTS = 32
SAMPLES_PER_PROMPT = 4
MAX_TOKENS = 128


def prompts() -> list[str]:
    return [
        f"Problem {i}: Ann has {i + 3} apples and gets {2 * i + 1} more." for i in range(PROMPTS)
    ]


def tokens_per_second(generator: Generator, params: SamplingParams) -> tuple[float, int, float]:
    generator.generate(prompts()[:2], SamplingParams(max_tokens=8, seed=0))  # warm-up
    start = time.perf_counter()
    results = generator.generate(prompts(), params)
    elapsed = time.perf_counter() - start
    tokens = sum(sample.token_count for samples in results for sample in samples)
    return tokens / elapsed, tokens, elapsed


def main() -> None:
    from workers.backends.transformers_generator import TransformersGenerator
    from workers.backends.vllm_generator import VLLMGenerator

    params = SamplingParams(n=SAMPLES_PER_PROMPT, temperature=1.0, max_tokens=MAX_TOKENS, seed=0)
    with tempfile.TemporaryDirectory() as directory:
        model_path = build_tiny_causal_lm(Path(directory) / "lm", seed=0)
        transformers = TransformersGenerator(model_path, batch_size=PROMPTS)
        hf_rate, hf_tokens, hf_s = tokens_per_second(transformers, params)
        del transformers
        vllm = VLLMGenerator(
            model_path, dtype="float32", max_model_len=1024, engine_options=CPU_ENGINE_OPTIONS
        )
        vllm_rate, vllm_tokens, vllm_s = tokens_per_second(vllm, params)
        vllm.close()

    ratio = vllm_rate / hf_rate
    print(f"{PROMPTS} prompts x {SAMPLES_PER_PROMPT} samples, up to {MAX_TOKENS} new tokens each")
    print(f"transformers: {hf_tokens} tokens in {hf_s:.2f} s = {hf_rate:.0f} tokens/s")
    print(f"vLLM (CPU):   {vllm_tokens} tokens in {vllm_s:.2f} s = {vllm_rate:.0f} tokens/s")
    print(f"vLLM / transformers: {ratio:.2f}x")
    print(
        json.dumps(
            {
                "vllm_tokens_per_s": round(vllm_rate, 1),
                "transformers_tokens_per_s": round(hf_rate, 1),
                "ratio": round(ratio, 2),
                "vllm_tokens": vllm_tokens,
                "transformers_tokens": hf_tokens,
                "prompts": PROMPTS,
                "samples_per_prompt": SAMPLES_PER_PROMPT,
                "max_tokens": MAX_TOKENS,
            }
        )
    )


if __name__ == "__main__":
    main()
