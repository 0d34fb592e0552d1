"""Prompt templates: ``{{ name }}`` placeholders filled from a mapping, and nothing else.

No expressions, attribute access, filters or loops, so a template written by a user can never run
code. Braces that do not form a ``{{ ... }}`` pair (LaTeX such as ``\\frac{a}{b}``) are plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PromptTemplateError(ValueError):
    """A template has a malformed placeholder, or one with no value."""

    def __init__(self, message: str, *, placeholder: str) -> None:
        super().__init__(message)
        self.placeholder = placeholder


def template_variables(template: str) -> set[str]:
    """The placeholder names used by `template`; raises PromptTemplateError on a malformed one."""
    return {_placeholder_name(match) for match in _PLACEHOLDER.finditer(template)}


def render_prompt(template: str, variables: Mapping[str, str]) -> str:
    """`template` with every ``{{ name }}`` replaced by ``variables[name]``.

    Values are inserted as they are: placeholders inside a value are not expanded.
    """

    def substitute(match: re.Match[str]) -> str:
        name = _placeholder_name(match)
        if name not in variables:
            raise PromptTemplateError(
                f"unknown placeholder {{{{ {name} }}}}: known variables are "
                f"{', '.join(sorted(variables)) or 'none'}",
                placeholder=name,
            )
        return variables[name]

    template_variables(template)  # report a malformed placeholder even after an unknown one
    return _PLACEHOLDER.sub(substitute, template)


def _placeholder_name(match: re.Match[str]) -> str:
    content = match.group(1).strip()
    if not _NAME.fullmatch(content):
        raise PromptTemplateError(
            f"invalid placeholder {match.group(0)!r}: a placeholder is {{{{ name }}}} where the "
            "name has only letters, digits and underscores",
            placeholder=content,
        )
    return content
