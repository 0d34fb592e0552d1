"""Usernames a reader cannot be fooled by: one script, nothing invisible or direction-changing.

"admin" with a Cyrillic a (U+0430) looks like "admin"; an override (U+202E) reverses what follows.
The check follows Unicode's "highly restrictive" profile (UTS #39): the letters come from one
script, or from one of the mixes a language writes (Japanese, Chinese with Bopomofo, Korean);
digits, punctuation and combining marks (scripts Common and Inherited) go with any.
"""

import unicodedata

from confusable_homoglyphs import categories
from django.core.exceptions import ValidationError

from annotation.core.text_policy import invisible_in

_WITH_ANY_SCRIPT = {"COMMON", "INHERITED"}
_MIXES_IN_USE = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"HAN", "BOPOMOFO"}),
    frozenset({"HAN", "HANGUL"}),
)


def validate_username_script(username: str) -> None:
    """Raises ValidationError for control, format (bidi), unassigned or separator characters, and
    for letters from more than one script."""
    if found := invisible_in(username):  # also the fillers of category Lo (U+3164, U+115F)
        raise ValidationError(f"Usernames cannot contain {found[0]}.", code="invisible_character")
    for char in username:
        # C*: controls, format characters (bidi controls, zero-width joiners), private use,
        # unassigned; Z*: spaces and line or paragraph separators.
        if unicodedata.category(char)[0] in "CZ":
            name = unicodedata.name(char, "a control character")
            raise ValidationError(
                f"Usernames cannot contain U+{ord(char):04X} ({name}).", code="invisible_character"
            )
    scripts = {categories.alias(char) for char in username} - _WITH_ANY_SCRIPT
    if len(scripts) > 1 and not any(scripts <= mix for mix in _MIXES_IN_USE):
        names = " and ".join(sorted(script.title() for script in scripts))
        raise ValidationError(
            f"Usernames must be written in one script; this one mixes {names}.", code="mixed_script"
        )
