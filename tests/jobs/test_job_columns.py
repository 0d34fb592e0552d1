"""A job row's total, model_version and prompt_version come from its parameters (job_columns,
which job_create writes): for every kind they equal what the start services passed by hand
before (issue 32), so the pages that show and filter by them see the same values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.jobs.models import JobKind
from annotation.jobs.params import job_columns
from tests.jobs.test_params import PARAMS

Columns = tuple[int | None, str, str]


def _label(snapshot: Any) -> str:
    return snapshot.label if snapshot is not None else ""


def _expand(p: Any) -> Columns:
    versions = [p.model.label] + ([p.scorer.label] if p.scorer else [])
    return len(p.items), " + ".join(versions), p.prompt.label


def _policy_critic(p: Any) -> Columns:
    model = p.model.label if p.critic is None else f"{p.model.label} + {p.critic.label}"
    return len(p.problem_ids), model, p.prompts["label"]


def _nothing(p: Any) -> Columns:
    return None, "", ""  # the start service passed none: the row's defaults


def _training(p: Any) -> Columns:
    return None, p.base.label, ""


# What each start service passed to job_create before, as a function of the parameters.
BEFORE: dict[str, Callable[[Any], Columns]] = {
    JobKind.IMPORT: _nothing,
    JobKind.EXPORT: _nothing,
    JobKind.SAMPLE: lambda p: (len(p.problem_ids), p.model.label, p.prompt.label),
    JobKind.EXPAND: _expand,
    JobKind.SCORE: lambda p: (len(p.trace_ids), p.scorer.label, ""),
    JobKind.TREE: lambda p: (len(p.problem_ids), f"{p.model.label} + {p.scorer.label}", ""),
    JobKind.LONG_THOUGHT: lambda p: (
        len(p.problem_ids),
        _label(p.rewriter),
        _label(p.rewrite_prompt),
    ),
    JobKind.MONTE_CARLO: lambda p: (len(p.trace_ids), p.model.label, p.prompt.label),
    JobKind.CONTINUE: lambda p: (1, p.model.label, ""),
    JobKind.TRAIN_SFT: _training,
    JobKind.TRAIN_DPO: _training,
    JobKind.TRAIN_PRM: _training,
    JobKind.TRAIN_GRPO: lambda p: (None, p.base.label, p.prompt.label),
    JobKind.EVALUATE: lambda p: (
        len(p.problem_ids) * len(p.models),
        " | ".join(m.label for m in p.models),
        p.prompt.label,
    ),
    JobKind.PROPOSAL_CRITIQUE: lambda p: (len(p.problem_ids), p.model.label, p.prompts["label"]),
    JobKind.POLICY_CRITIC: _policy_critic,
    JobKind.SCORER_COMPARISON: _nothing,
    JobKind.BEST_OF_N: _nothing,
    JobKind.DISAGREEMENT_QUEUE: _nothing,
    JobKind.AGREEMENT: _nothing,
    JobKind.ROUND_COMPARISON: _nothing,
}


def test_every_kind_says_what_it_passed_before():
    assert set(BEFORE) == set(PARAMS)


@pytest.mark.parametrize("kind", sorted(BEFORE))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_the_columns_derived_from_the_parameters_are_those_passed_before(kind, data):
    # given
    params = data.draw(PARAMS[kind])
    # when
    columns = job_columns(params)
    # then
    derived = (
        columns.get("total"),
        columns.get("model_version", ""),
        columns.get("prompt_version", ""),
    )
    assert derived == BEFORE[kind](params)
