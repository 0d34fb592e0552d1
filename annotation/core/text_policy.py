"""Invisible characters: what is removed, refused, or shown.

Unicode's default-ignorable code points (zero-width space and joiners, word joiner, soft
hyphen, bidi controls, variation selectors, fillers, tags; DerivedCoreProperties.txt) render
as nothing. Left in place, "What is 42?" and the same text with a zero-width space are two
problems, an answer "42" + U+200B looks like "42", and a username can hide a character.

- Identity (a problem's digest, across imports) and answers: removed (`without_invisible`).
- Usernames: refused (annotation/core/validators.py names the character).
- Content kept as written (steps, problem texts): shown visibly where it is shown
  (`shown_visibly`: each one as its code point, e.g. "⟦U+200B⟧").
- File names of uploads: refused when they hold a control, NUL or invisible character
  (`filename_problem`).
"""

import re
import unicodedata

# Default_Ignorable_Code_Point (Unicode 15.1, DerivedCoreProperties.txt).
_IGNORABLE_RANGES = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
INVISIBLE = re.compile(f"[{_IGNORABLE_RANGES}]")


def invisible_in(text: str) -> list[str]:
    """The invisible characters of `text`, in order, each once, as U+XXXX (NAME)."""
    seen = dict.fromkeys(INVISIBLE.findall(text))
    return [f"U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})" for c in seen]


def without_invisible(text: str) -> str:
    return INVISIBLE.sub("", text)


def shown_visibly(text: str) -> str:
    """Each invisible character replaced by its code point between ⟦ ⟧, so that a reader sees
    it is there."""
    return INVISIBLE.sub(lambda match: f"⟦U+{ord(match.group()):04X}⟧", text)


def filename_problem(name: str) -> str | None:
    """Why an upload's file name is refused (a NUL, a control or an invisible character), or
    None. Django's parser would silently drop such characters ("a\\x00b.jsonl" -> "ab.jsonl")."""
    for char in name:
        if char == "\x00":
            return "contains a NUL character (U+0000)"
        if unicodedata.category(char) == "Cc":
            return f"contains a control character (U+{ord(char):04X})"
    if found := invisible_in(name):
        return f"contains an invisible character, {found[0]}"
    return None
