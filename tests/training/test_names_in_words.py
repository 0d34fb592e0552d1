"""Hyperparameters as a page shows them: in words, in the order of the form, values read
as numbers and yes/no."""

from annotation.training.models import in_words


def test_hyperparameters_read_in_words_in_the_forms_order():
    stored = {"lora": False, "seed": 0, "epochs": 1.0, "lora_r": 16, "learning_rate": 2e-05}
    assert in_words(stored) == [
        ("Epochs", "1"),
        ("Learning rate", "2e-05"),
        ("LoRA adapters", "no"),
        ("LoRA rank", "16"),
        ("Seed", "0"),
    ]


def test_a_reward_weight_or_unknown_name_still_reads_in_words():
    assert in_words({"process_weight": 0.5, "aggregation": "min", "max_steps": None}) == [
        ("Max steps", None),
        ("Process weight", "0.5"),
        ("Aggregation", "min"),
    ]
