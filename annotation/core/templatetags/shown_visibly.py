"""`{{ text|shown_visibly }}`: user text HTML-escaped, with each invisible character it still
holds (annotation/core/text_policy.py) shown as its code point in a marked span, e.g.
<span class="invisible-char" title="U+200B ZERO WIDTH SPACE">⟦U+200B⟧</span>; where no markup
can go (a page's <title>), `shown_visibly_as_text` gives the code point alone, "⟦U+200B⟧".

A builtin of the templates (settings.TEMPLATES), so every page may use it without a load.
render.js keeps the mark when it renders the text (the span's text is what it reads)."""

import re
import unicodedata
from typing import Any

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from annotation.core.text_policy import INVISIBLE
from annotation.core.text_policy import shown_visibly as code_points_shown

register = template.Library()


def _mark(match: re.Match[str]) -> str:
    char = match.group()
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "unnamed")
    return format_html('<span class="invisible-char" title="{} {}">⟦{}⟧</span>', code, name, code)


def _escaped(value: Any, autoescape: bool) -> str:
    return conditional_escape(value) if autoescape else str(value)


@register.filter(needs_autoescape=True)
def shown_visibly(value: Any, autoescape: bool = True) -> SafeString:
    text = _escaped(value, autoescape)
    # Escaping leaves invisible characters as they are; each mark is built by format_html.
    return mark_safe(INVISIBLE.sub(_mark, text))


@register.filter(needs_autoescape=True)
def shown_visibly_as_text(value: Any, autoescape: bool = True) -> SafeString:
    text = _escaped(value, autoescape)
    # Escaping leaves invisible characters as they are; a code point's mark holds no markup.
    return mark_safe(code_points_shown(text))
