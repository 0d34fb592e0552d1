from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.backends.base import ScoreItem, ScorerError
from workers.backends.prm_scorers import QwenPRMScorer
from workers.backends.vllm_pooling_scorer import VLLMPoolingScorer
from workers.testing.vllm_cpu import CPU_ENGINE_OPTIONS

pytestmark = pytest.mark.models

ITEMS = [
    ScoreItem("What is 2 + 3?", ["2 + 3 = 5.", "The answer is 5."]),
    ScoreItem("Let x + 2 = 5.", ["x = 3", "Check: 3 + 2 = 5.", "So $\\boxed{3}$.", "Done."]),
    ScoreItem("Bob has 12 pens.", ["He has 12."]),
]


@pytest.fixture(scope="module")
def pooling_scorer(qwen_prm_path: Path) -> Iterator[VLLMPoolingScorer]:
    scorer = VLLMPoolingScorer(
        qwen_prm_path, dtype="float32", max_model_len=1024, engine_options=CPU_ENGINE_OPTIONS
    )
    yield scorer
    scorer.close()


def test_vllm_pooling_scores_equal_the_transformers_qwen_prm_scores(
    pooling_scorer: VLLMPoolingScorer, qwen_prm_path: Path
) -> None:
    # when
    pooled = pooling_scorer.score(ITEMS)
    reference = QwenPRMScorer(qwen_prm_path).score(ITEMS)

    # then
    assert [len(scores) for scores in pooled] == [2, 4, 1]
    for pooled_scores, reference_scores in zip(pooled, reference, strict=True):
        assert pooled_scores == pytest.approx(reference_scores, abs=1e-4)


def test_vllm_pooling_rejects_a_step_containing_the_separator(
    pooling_scorer: VLLMPoolingScorer,
) -> None:
    with pytest.raises(ScorerError, match="step 1 contains the scorer's step marker '<extra_0>'"):
        pooling_scorer.score([ScoreItem("What is 1 + 1?", ["2<extra_0>"])])
