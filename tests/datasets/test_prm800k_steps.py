"""PRM800K steps: the quick reading of well-formed steps gives what reading them field by field
gives, and leaves anything else to it (which says what is wrong)."""

import json
from collections import defaultdict
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from annotation.datasets.errors import RecordError
from annotation.datasets.fields import Fields
from annotation.datasets.formats import prm800k
from annotation.datasets.records import StepRecord
from tests.conftest import PRM800K_DIR

# Values that are almost right (a boolean for a number, 2 for a rating, a float for an integer)
# and others.
ANYTHING = st.sampled_from(
    [
        None,
        True,
        False,
        -2,
        -1,
        0,
        1,
        2,
        3,
        2**70,
        1.0,
        -0.5,
        "",
        "1",
        [],
        [None],
        {},
        {"text": "a"},
    ]
) | st.text(max_size=3)
COMPLETION = st.fixed_dictionaries(
    {"text": st.text(max_size=5), "rating": st.sampled_from([-1, 0, 1, None])},
    optional={"flagged": st.sampled_from([True, False, None]), "source": ANYTHING},
)

# Values of the right type for a field but maybe not right for it, by the field's kind.
ALMOST = {
    "step": st.fixed_dictionaries({"completions": st.none()}),
    "completions": st.lists(COMPLETION, max_size=3),
    "chosen_completion": st.integers(-1, 4),
    "human_completion": COMPLETION,
    "completion": COMPLETION,
    "rating": st.integers(-2, 2),
    "flagged": st.sampled_from([0, 1]),
}


@st.composite
def step_lists(draw: st.DrawFn) -> list[Any]:
    """Well-formed steps (a chosen completion, a human one, or neither), and half the time
    one field of some kind (a step, its completions, a rating, ...) set to anything or
    removed."""
    drawn: list[Any] = []
    for _ in range(draw(st.integers(0, 4))):
        completions = draw(st.lists(COMPLETION, max_size=3) | st.none())
        step: dict[str, Any] = {"completions": completions}
        way = draw(st.sampled_from(["chosen", "human", "neither"]))
        if way == "chosen" and completions:
            step["chosen_completion"] = draw(st.integers(0, len(completions) - 1))
        elif way == "human":
            step["human_completion"] = draw(COMPLETION)
        drawn.append(step)
    places: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for index, step in enumerate(drawn):
        places["step"].append((drawn, index))
        for key in ("completions", "chosen_completion", "human_completion"):
            places[key].append((step, key))
        for option in range(len(step["completions"] or [])):
            places["completion"].append((step["completions"], option))
        for completion in [*(step["completions"] or []), step.get("human_completion")]:
            for key in ("text", "rating", "flagged") if completion is not None else ():
                places[key].append((completion, key))
    if places and draw(st.booleans()):
        kind = draw(st.sampled_from(sorted(places)))
        container, key = draw(st.sampled_from(places[kind]))
        if isinstance(container, dict) and draw(st.booleans()):
            container.pop(key, None)
        else:
            container[key] = draw(ALMOST.get(kind, ANYTHING) | ANYTHING)
    return drawn


def read_field_by_field(steps: list[Any]) -> list[StepRecord] | None:
    """The records `_parse_step` reads, or None if it refuses the steps."""
    label = Fields({"steps": steps}, 1)
    try:
        return [record for i in range(len(steps)) for record in prm800k._parse_step(label, i)]
    except RecordError:
        return None


GOOD = {"text": "a", "rating": 1}


@settings(max_examples=1000, deadline=None)
@given(step_lists())
@example([{"completions": [GOOD], "chosen_completion": 0, "human_completion": GOOD}])
@example([{"completions": [GOOD], "chosen_completion": 1}])
@example([{"completions": [GOOD, GOOD], "chosen_completion": True}])
@example([{"completions": [{**GOOD, "rating": True}]}])
@example([{"completions": None, "human_completion": {**GOOD, "flagged": 0}}])
def test_steps_read_quickly_are_the_steps_read_field_by_field(steps):
    quickly = prm800k._well_formed_steps(steps)
    assert quickly is None or quickly == read_field_by_field(steps)


def test_the_real_rows_steps_are_read_quickly():
    for line in (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_text().splitlines():
        steps = json.loads(line)["label"]["steps"]
        quickly = prm800k._well_formed_steps(steps)
        assert quickly is not None
        assert quickly == read_field_by_field(steps)
