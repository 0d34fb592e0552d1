import pytest

from algorithms.prompts import PromptTemplateError, render_prompt, template_variables


def test_render_prompt_fills_placeholders_and_keeps_latex_braces() -> None:
    # given
    template = (
        "Problem: {{ problem }}\nUse \\frac{a}{b} and put it in \\boxed{{{answer}}}.\n{{problem}}"
    )

    # when
    prompt = render_prompt(template, {"problem": "What is $1+1$?", "answer": "2", "unused": "x"})

    # then
    assert prompt == (
        "Problem: What is $1+1$?\nUse \\frac{a}{b} and put it in \\boxed{2}.\nWhat is $1+1$?"
    )


def test_render_prompt_does_not_expand_placeholders_inside_values() -> None:
    assert render_prompt("{{ a }}", {"a": "{{ b }}", "b": "no"}) == "{{ b }}"


def test_render_prompt_names_an_unknown_placeholder() -> None:
    with pytest.raises(PromptTemplateError) as raised:
        render_prompt("Solve {{ problem }} in {{ steps }} steps", {"problem": "p"})

    assert raised.value.placeholder == "steps"
    assert str(raised.value) == "unknown placeholder {{ steps }}: known variables are problem"


@pytest.mark.parametrize(
    ("template", "placeholder"),
    [
        ("{{ __import__('os') }}", "__import__('os')"),
        ("{{ problem.__class__ }}", "problem.__class__"),
        ("{{ problem | upper }}", "problem | upper"),
        ("{% for x in y %}{{ x }}{% endfor %}{{ }}", ""),
        ("{{ 1name }}", "1name"),
    ],
)
def test_malformed_placeholders_are_rejected(template: str, placeholder: str) -> None:
    with pytest.raises(PromptTemplateError, match="invalid placeholder") as raised:
        render_prompt(template, {"problem": "p", "x": "1", "y": "2"})

    assert raised.value.placeholder == placeholder


def test_template_variables() -> None:
    template = "{{ problem }} {{solution}} \\frac{1}{2} {{ problem }} {single}"

    assert template_variables(template) == {"problem", "solution"}
    assert template_variables("no placeholders {}") == set()
    with pytest.raises(PromptTemplateError):
        template_variables("{{ os.system }}")
