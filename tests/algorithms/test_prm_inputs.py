"""Scorer inputs as the models' cards write them, for the cards' own examples."""

import pytest

from algorithms.prm_inputs import math_shepherd_input, qwen_prm_messages

# The Math-Shepherd card's example (peiyi9979/math-shepherd-mistral-7b-prm), first two steps.
CARD_QUESTION = (
    "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and "
    "bakes muffins for her friends every day with four. She sells the remainder at the "
    "farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every "
    "day at the farmers' market?"
)
CARD_STEPS = [
    "Janet's ducks lay 16 eggs per day.",
    "She eats three for breakfast every morning, so she has 16 - 3 = 13 eggs left.",
]


def test_math_shepherd_input_is_the_cards_step_prefixed_tagged_text():
    # when
    text = math_shepherd_input(CARD_QUESTION, CARD_STEPS)
    # then: f"{question} {output}", each step "Step i: ... ки" on its own line
    assert text == (
        CARD_QUESTION
        + " Step 1: Janet's ducks lay 16 eggs per day. ки\n"
        + "Step 2: She eats three for breakfast every morning, so she has 16 - 3 = 13 eggs "
        + "left. ки"
    )


def test_math_shepherd_training_label_replaces_each_tag_with_its_mark():
    label = math_shepherd_input(CARD_QUESTION, CARD_STEPS, marks=["+", "-"])
    assert label.endswith(
        "Step 1: Janet's ducks lay 16 eggs per day. +\nStep 2: She eats three for breakfast "
        "every morning, so she has 16 - 3 = 13 eggs left. -"
    )


def test_a_configured_template_is_filled_without_format_string_evaluation():
    text = math_shepherd_input(
        "Q?", ["a {0} {step.__class__} {tag}"], step_template="({number}) {step} {tag}"
    )
    assert text == "Q? (1) a {0} {step.__class__} {tag} ки"
    with pytest.raises(ValueError, match=r"must contain \{tag\}"):
        math_shepherd_input("Q?", ["a"], step_template="Step {number}: {step}")


def test_qwen_prm_messages_are_the_cards_conversation():
    # the Qwen2.5-Math-PRM card: the system prompt, the query, the steps each followed by
    # <extra_0>
    assert qwen_prm_messages("What is 1 + 1?", ["1 + 1 = 2.", "The answer is 2."]) == [
        {
            "role": "system",
            "content": "Please reason step by step, and put your final answer within \\boxed{}.",
        },
        {"role": "user", "content": "What is 1 + 1?"},
        {"role": "assistant", "content": "1 + 1 = 2.<extra_0>The answer is 2.<extra_0>"},
    ]
