"""A tree job's parameters are written once, on TreeParams (issue 32): the start page's form and
the API's body are built from its fields, so their defaults are the class's, and a body and
the same values typed into the form build the same parameters."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.core.params_fields import field_default
from annotation.jobs.params import TreeParams
from annotation.llm.models import ModelConfig
from annotation.trees.api import TreeJobSerializer
from annotation.trees.forms import TreeJobForm
from annotation.trees.services import tree_params
from tests.factories import ProjectFactory
from tests.support.data import make_problems

pytestmark = pytest.mark.django_db


# The fields the form shows as the class holds them; the delimiter as typed (\n for a newline).
def same(value: Any) -> Any:
    return value


TYPED = {"delimiter": lambda text: text.replace("\n", "\\n").replace("\t", "\\t")}
CHOSEN = ("prompt", "width", "keep", "max_depth", "mode", "simulations", "c_puct")
CHOSEN += ("wrong_below", "delimiter", "chunk_size")


@pytest.fixture
def world() -> dict[str, Any]:
    project = ProjectFactory()
    rows = {"kind": "transformers", "path_or_endpoint": "/models/none", "project": project}
    return {
        "project": project,
        "model": ModelConfig.objects.create(name="policy", **rows),
        "scorer": ModelConfig.objects.create(name="prm", scorer_head="math-shepherd", **rows),
        "problem_ids": [p.pk for p in make_problems(project, 3)],
    }


def from_body(world: dict[str, Any], body: dict[str, Any]) -> TreeParams:
    ids = {"project": world["project"].pk, "model": world["model"].pk}
    serializer = TreeJobSerializer(
        data={**ids, "scorer": world["scorer"].pk, "problem_ids": world["problem_ids"], **body}
    )
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    del data["project"], data["model"], data["scorer"]
    return tree_params(model=world["model"], scorer=world["scorer"], **data)


def from_form(world: dict[str, Any], typed: dict[str, Any]) -> TreeParams:
    models = {"model": world["model"].pk, "scorer": world["scorer"].pk, "limit": 3}
    form = TreeJobForm(world["project"], {**models, **typed})
    assert form.is_valid(), form.errors
    values = form.values()
    return tree_params(
        model=world["model"], scorer=world["scorer"], problem_ids=world["problem_ids"], **values
    )


def test_the_form_and_the_body_default_to_the_classs_values(world):
    # given: the form as the page shows it, and a body with only the required fields
    form = TreeJobForm(world["project"])
    shown = {name: form.fields[name].initial for name in CHOSEN}
    defaults = {name: field_default(TreeParams, name) for name in CHOSEN}
    # then
    assert shown == {name: TYPED.get(name, same)(value) for name, value in defaults.items()}
    assert from_body(world, {}) == from_form(world, shown)
    assert from_body(world, {}) == tree_params(
        model=world["model"], scorer=world["scorer"], problem_ids=world["problem_ids"]
    )


values = st.fixed_dictionaries(
    {
        "prompt": st.sampled_from(["{{ problem }}", "Solve.\n\n{{ problem }}\n", "{{problem}} "]),
        "width": st.integers(1, 64),
        "keep": st.integers(1, 64),
        "max_depth": st.integers(1, 64),
        "mode": st.sampled_from(["beam", "mcts"]),
        "simulations": st.integers(1, 10_000),
        "c_puct": st.floats(0, 10, allow_nan=False),
        "wrong_below": st.floats(0, 1, allow_nan=False),
        "delimiter": st.sampled_from(["\n\n", "\n", " ;", "\t"]),
        "chunk_size": st.integers(1, 1000),
    }
)
sampling = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2, allow_nan=False),
        "max_tokens": st.integers(1, 512),
        "seed": st.integers(0, 2**31),
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chosen=values, sampled=sampling)
def test_a_body_and_the_same_values_typed_into_the_form_build_the_same_parameters(
    world, chosen, sampled
):
    # given
    typed = {name: TYPED.get(name, same)(value) for name, value in chosen.items()}
    # when
    from_api = from_body(world, {**chosen, "sampling": sampled})
    from_page = from_form(world, {**typed, **sampled})
    # then
    assert from_api == from_page
