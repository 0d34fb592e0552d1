"""Model backends, scorer heads and training methods are written once (algorithms/choices.py):
the database's choices and check constraints, the job parameters and the workers' ModelSpec
all read the same values."""

from typing import Any, get_type_hints

import pytest
from django.db import models

from algorithms.choices import (
    NO_SCORER_HEAD,
    BackendKind,
    PRMHead,
    ScorerHead,
    SupervisedMethod,
    TrainingMethod,
    values,
)
from annotation.jobs.params import ModelSnapshot
from annotation.llm.models import ModelConfig
from annotation.training.models import ModelLineage
from annotation.training.params import TrainingParams
from workers.backends.registry import ModelSpec


def column_values(model: type[models.Model], name: str) -> tuple[list[Any], list[Any]]:
    """A column's choices, and the values its check constraint allows."""
    choices = [value for value, _ in model._meta.get_field(name).choices or []]
    (allowed,) = [
        dict(constraint.condition.children)[f"{name}__in"]  # type: ignore[attr-defined]
        for constraint in model._meta.constraints
        if isinstance(constraint, models.CheckConstraint)
        and f"{name}__in" in dict(constraint.condition.children)  # type: ignore[attr-defined]
    ]
    return choices, list(allowed)


@pytest.mark.parametrize(
    ("model", "column", "expected"),
    [
        (ModelConfig, "kind", list(values(BackendKind))),
        (ModelConfig, "scorer_head", [NO_SCORER_HEAD, *values(ScorerHead)]),
        (ModelLineage, "method", list(values(TrainingMethod))),
    ],
)
def test_the_columns_allow_the_shared_values(
    model: type[models.Model], column: str, expected: list[str]
) -> None:
    # given / when
    choices, allowed = column_values(model, column)
    # then
    assert choices == expected
    assert allowed == expected


def test_parameters_and_workers_name_the_same_types() -> None:
    # given / when
    snapshot, spec = get_type_hints(ModelSnapshot), get_type_hints(ModelSpec)
    training = get_type_hints(TrainingParams)
    # then
    assert snapshot["kind"] == spec["kind"] == BackendKind
    assert snapshot["scorer_head"] == spec["scorer_head"] == ScorerHead | None
    assert training["method"] == SupervisedMethod
    assert training["head"] == PRMHead | None


def test_the_subsets_are_values_of_their_sets() -> None:
    assert set(values(SupervisedMethod)) < set(values(TrainingMethod))
    assert set(values(PRMHead)) < set(values(ScorerHead))
