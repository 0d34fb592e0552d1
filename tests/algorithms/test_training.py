"""Hyperparameters: defaults per method, errors naming the field, steps and ETA."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms.training import (
    HyperparameterError,
    Hyperparameters,
    eta_seconds,
    optimizer_steps,
)


def test_the_learning_rate_defaults_per_method() -> None:
    assert Hyperparameters.for_method("sft").learning_rate == 2e-5
    assert Hyperparameters.for_method("dpo").learning_rate == 5e-7
    assert Hyperparameters.for_method("prm", {"learning_rate": 1e-3}).learning_rate == 1e-3


@pytest.mark.parametrize(
    ("given_values", "message"),
    [
        ({"epochs": 0}, "epochs: 0.0 must be above 0.0"),
        ({"learning_rate": 2}, "learning_rate: 2.0 is not in (0, 1)"),
        ({"batch_size": 0}, "batch_size: 0 must be at least 1"),
        ({"batch_size": 1.5}, "batch_size: expected a whole number, got 1.5"),
        ({"lora": "yes"}, "lora: expected true or false, got 'yes'"),
        ({"max_steps": 0}, "max_steps: 0 must be at least 1"),
        ({"max_length": 8}, "max_length: 8 must be at least 16"),
        ({"epoch": 1}, "epoch: unknown hyperparameter"),
    ],
)
def test_bad_values_name_their_field(given_values: dict, message: str) -> None:
    with pytest.raises(HyperparameterError) as error:
        Hyperparameters.for_method("sft", given_values)
    assert str(error.value).startswith(message)


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(HyperparameterError, match="method: 'ppo' is not one of sft, dpo, prm"):
        Hyperparameters.for_method("ppo")


@given(
    st.builds(
        Hyperparameters,
        epochs=st.floats(0.1, 10),
        batch_size=st.integers(1, 64),
        lora=st.booleans(),
        max_steps=st.one_of(st.none(), st.integers(1, 1000)),
    )
)
def test_params_round_trip(hp: Hyperparameters) -> None:
    assert Hyperparameters.from_params(hp.as_params()) == hp


@given(
    rows=st.integers(1, 500),
    batch=st.integers(1, 16),
    accumulation=st.integers(1, 8),
    epochs=st.integers(1, 4),
)
def test_optimizer_steps_cover_every_row_once_per_epoch(
    rows: int, batch: int, accumulation: int, epochs: int
) -> None:
    hp = Hyperparameters(epochs=float(epochs), batch_size=batch, gradient_accumulation=accumulation)
    steps = optimizer_steps(rows, hp)
    per_epoch = steps // epochs
    assert steps == per_epoch * epochs
    # enough steps to see every row, and no step without a batch
    assert per_epoch * batch * accumulation >= rows
    assert (per_epoch - 1) * batch * accumulation < rows


def test_max_steps_wins() -> None:
    assert optimizer_steps(1000, Hyperparameters(max_steps=7)) == 7


def test_eta_counts_only_this_attempts_pace() -> None:
    # a run resumed at step 40 that made 10 steps in 5 s has 50 steps left: 25 s
    assert eta_seconds(50, 100, 40, 5.0) == 25.0
    assert eta_seconds(40, 100, 40, 0.0) is None
    assert eta_seconds(120, 100, 40, 8.0) == 0.0


def test_grpo_has_its_own_defaults_and_whole_groups() -> None:
    hp = Hyperparameters.for_method("grpo")
    assert (hp.learning_rate, hp.beta, hp.group_size) == (1e-6, 0.04, 4)
    assert Hyperparameters.for_method("grpo", {"beta": 0}).beta == 0.0  # no reference model
    with pytest.raises(HyperparameterError, match="beta: 0 must be above 0 for DPO"):
        Hyperparameters.for_method("dpo", {"beta": 0})
    with pytest.raises(HyperparameterError) as error:
        Hyperparameters.for_method("grpo", {"group_size": 3})
    assert str(error.value).startswith(
        "group_size: 3 must divide the completions of an optimizer step "
        "(batch_size x gradient_accumulation = 16)"
    )
    with pytest.raises(HyperparameterError, match="group_size: 1 must be at least 2"):
        Hyperparameters.for_method("grpo", {"group_size": 1})
