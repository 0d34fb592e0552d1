"""strict_json: a document is decoded exactly as the standard library would, or refused (with a
path) when it holds something the database or a recursive encoder could not take back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.core.strict_json import MAX_DIGITS, JSONInputError, decode, raw_decode


@dataclass(frozen=True)
class Obj:
    """An object written as its pairs, so that a key may repeat."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Token:
    """A number written as raw text: NaN, Infinity, 1e999, or more digits than Python reads."""

    text: str


TOKENS = [Token("NaN"), Token("-Infinity"), Token("1e999"), Token("1" + "0" * MAX_DIGITS)]
CHARACTERS = st.one_of(st.sampled_from(':\x00\ud800\udc00"\\é😀 '), st.characters())
STRINGS = st.text(CHARACTERS, max_size=6)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    STRINGS,
    st.sampled_from(TOKENS),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(
            st.tuples(st.sampled_from(["a", "b", "a:b", "\x00"]) | STRINGS, children), max_size=3
        )
        .map(tuple)
        .map(Obj),
    ),
    max_leaves=12,
)


def render(value: Any, escape_colons: bool) -> str:
    if isinstance(value, Token):
        return value.text
    if isinstance(value, str):
        text = json.dumps(value)
        return text.replace(":", "\\u003a") if escape_colons else text
    if isinstance(value, list):
        return "[" + ", ".join(render(v, escape_colons) for v in value) + "]"
    if isinstance(value, Obj):
        return (
            "{"
            + ",".join(
                f"{render(k, escape_colons)} : {render(v, escape_colons)}" for k, v in value.pairs
            )
            + "}"
        )
    return json.dumps(value)


def acceptable(value: Any, levels: int, int64: bool) -> bool:
    if isinstance(value, Token):
        return False
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return not int64 or -(2**63) <= value < 2**63
    if isinstance(value, list | Obj):
        if levels == 0:
            return False
        if isinstance(value, Obj):
            keys = [k for k, _ in value.pairs]
            if len(set(keys)) < len(keys) or not all(acceptable(k, 1, int64) for k in keys):
                return False
            return all(acceptable(v, levels - 1, int64) for _, v in value.pairs)
        return all(acceptable(v, levels - 1, int64) for v in value)
    return True


def plain(value: Any) -> Any:
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Obj):
        return {k: plain(v) for k, v in value.pairs}
    return value


@settings(max_examples=600, deadline=None)
@given(DOCUMENTS, st.booleans(), st.integers(min_value=1, max_value=4), st.booleans())
def test_decodes_what_the_standard_library_reads_or_refuses_what_cannot_be_kept(
    document, escape_colons, max_depth, int64
):
    # given
    text = render(document, escape_colons).encode("utf-8", "surrogatepass")
    # when / then
    if acceptable(document, max_depth, int64):
        assert decode(text, max_depth=max_depth, int64=int64) == plain(document)
    else:
        with pytest.raises(JSONInputError):
            decode(text, max_depth=max_depth, int64=int64)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (b'{"a": {"b": [1, {"c": 2, "c": 3}]}}', "a.b[1].c", "appears twice in one object"),
        (b'{"x": [Infinity]}', "x[0]", "Infinity is not a JSON number"),
        (b"NaN", "", "NaN is not a JSON number"),
        (b'{"l": 1e999}', "l", "1e999 is too large for a number"),
        (b"[18446744073709551616]", "[0]", "is an integer beyond 64 bits"),
        (b"1" + b"0" * 10_000, "", f"is an integer of more than {MAX_DIGITS} digits"),
        (b'{"s": "a\\u0000b"}', "s", "contains a NUL character (\\u0000)"),
        (b'{"s": ["\\ud800"]}', "s[0]", "contains a lone surrogate (\\ud800)"),
        (b'{"\\u0000": 1}', "", "has a key that contains a NUL character (\\u0000)"),
        (b"[" * 100_000 + b"]" * 100_000, "", "is nested more than 32 levels deep"),
        (b"[" * 33 + b"]" * 33, "", "is nested more than 32 levels deep"),
        (b'{"a" 1}', "", "invalid JSON: Expecting ':' delimiter at column 6"),
        (b'\n{"a" 1}', "", "invalid JSON: Expecting ':' delimiter at line 2 column 6"),
        (b"\xff", "", "invalid UTF-8 at byte 1"),
    ],
)
def test_a_refusal_names_the_path_and_the_reason(text, path, message):
    with pytest.raises(JSONInputError) as caught:
        decode(text)
    assert (caught.value.path, caught.value.message) == (path, message)


def test_big_integers_are_kept_when_asked():
    assert decode(b"[18446744073709551616]", int64=False) == [2**64]


def test_raw_decode_says_where_a_refused_value_ends():
    with pytest.raises(JSONInputError) as caught:
        raw_decode('{"a": NaN}, {"b": 1}]')
    assert (caught.value.path, caught.value.end) == ("a", 10)


def test_a_long_key_is_cut_short_in_the_path():
    with pytest.raises(JSONInputError) as caught:
        decode(b'{"' + b"k" * 10_000 + b'": NaN}')
    assert caught.value.path == "k" * 197 + "..."
