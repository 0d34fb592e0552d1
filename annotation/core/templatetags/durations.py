"""`{{ ms|time_on_item }}`: a time in milliseconds as people read it on the work pages: "—" when
there is none, whole seconds under a minute ("42 s"), whole minutes from there ("3 min").

A builtin of the templates (settings.TEMPLATES), so every page may use it without a load."""

from django import template

register = template.Library()

MINUTE_MS = 60_000


@register.filter
def time_on_item(ms: int | float | None) -> str:
    if not ms:
        return "—"
    if ms < MINUTE_MS:
        return f"{round(ms / 1000)} s"
    return f"{round(ms / MINUTE_MS)} min"
