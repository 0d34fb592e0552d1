"""The dpo, sft-shortcut and sft-journey exports train one step in TRL with a tiny model."""

from pathlib import Path

import pytest

from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from tests.exports.conftest import make_problem, make_trace
from workers.testing.tiny_models import build_tiny_causal_lm

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm-exports"), seed=0)


def load(path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    import datasets

    return datasets.load_dataset(
        "json", data_files=str(path), cache_dir=str(tmp_path / "hf-cache")
    )["train"]


def common_args(tmp_path: Path) -> dict:
    return {
        "output_dir": str(tmp_path / "run"),
        "max_steps": 1,
        "per_device_train_batch_size": 2,
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "use_cpu": True,
        "dataloader_num_workers": 0,
    }


@pytest.mark.parametrize("format_name", ["sft-shortcut", "sft-journey"])
def test_sft_trainer_runs_a_step_on_the_sft_exports(sums, tmp_path, tiny_lm, format_name):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    export_to_directory(
        project=sums["project"], options=ExportOptions(format=format_name), directory=tmp_path
    )
    dataset = load(tmp_path / f"{format_name}-train.jsonl", tmp_path)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(tiny_lm)),
        args=SFTConfig(**common_args(tmp_path), max_length=256),
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(str(tiny_lm)),
    )
    result = trainer.train()
    assert result.global_step == 1
    assert result.training_loss > 0


def test_dpo_trainer_runs_a_step_on_the_dpo_export(sums, tmp_path, tiny_lm):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    # given the recipe's 20 samples of a problem, 10 correct and 10 incorrect
    problem = make_problem(sums["project"], "test/dpo/1", "What is 4 + 4?", answer="8")
    for i in range(10):
        make_trace(problem, [f"Sample {i}: 4 + 4 = 8."], is_correct=True, final_answer="8")
        make_trace(problem, [f"Sample {i}: 4 + 4 = 9."], is_correct=False, final_answer="9")
    export_to_directory(
        project=sums["project"], options=ExportOptions(format="dpo"), directory=tmp_path
    )
    dataset = load(tmp_path / "dpo-train.jsonl", tmp_path)
    assert dataset.num_rows == 1 + 5  # sums' one pair, and 5 of the recipe's problem
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(tiny_lm)),
        args=DPOConfig(**common_args(tmp_path), max_length=256),
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(str(tiny_lm)),
    )
    result = trainer.train()
    assert result.global_step == 1
    assert result.training_loss > 0
