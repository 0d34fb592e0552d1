"""Final-answer extraction and math-equivalence grading.

Plain cases (the same text, two plain decimals) are decided here; the rest go to `math_verify`
in the pool of verifier processes of `algorithms.verifier`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from fractions import Fraction

from algorithms.verifier import verify_pairs

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_ANSWER_HEADING = re.compile(r"^[ \t]*#[ \t]*Answer[ \t]*$", re.MULTILINE)
_ANSWER_PHRASE = re.compile(r"the\s+answer\s+is\s*:?", re.IGNORECASE)
_GSM8K_MARK = "####"
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
# Full-width forms of ASCII (U+FF01..U+FF5E: digits, punctuation, letters) and the ideographic
# space, folded to ASCII as NFKC would; the rest of NFKC is not applied (it would read x² as x2).
_FULL_WIDTH = {code: unicodedata.normalize("NFKC", chr(code)) for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = " "


def extract_answer(text: str) -> str | None:
    """The final answer of a solution, or None when it states none.

    Looks, in order, for the last ``\\boxed{...}`` / ``\\fbox{...}``, the line after a PRM800K
    ``# Answer`` heading, the text after the last "the answer is", the text after a GSM8K ``####``.
    """
    extractors: tuple[Callable[[str], str | None], ...] = (
        _last_boxed,
        _after_answer_heading,
        _after_answer_phrase,
        _after_gsm8k_mark,
    )
    for extractor in extractors:
        answer = extractor(text)
        if answer:
            return answer
    return None


def answers_equivalent(predicted: str, truth: str, *, timeout_s: float = 5.0) -> bool:
    """Whether two final answers are mathematically equivalent; False when undecided in time."""
    return answers_equivalent_many([(predicted, truth)], timeout_s=timeout_s)[0]


def answers_equivalent_many(
    pairs: Sequence[tuple[str, str]], *, timeout_s: float = 5.0
) -> list[bool]:
    """`answers_equivalent` for many (predicted, truth) pairs, sent to the pool in chunks."""
    results = [False] * len(pairs)
    pending: list[int] = []
    pairs = [(normalise_answer(predicted), normalise_answer(truth)) for predicted, truth in pairs]
    for index, (predicted, truth) in enumerate(pairs):
        if not predicted.strip() or not truth.strip():
            continue
        if _normalise_whitespace(predicted) == _normalise_whitespace(truth):
            results[index] = True
        elif (numbers := _plain_numbers(predicted, truth)) is not None:
            results[index] = numbers[0] == numbers[1]
        else:
            pending.append(index)
    outcomes = verify_pairs(
        [(_as_math_text(pairs[i][0]), _as_math_text(pairs[i][1])) for i in pending], timeout_s
    )
    for index, equivalent in zip(pending, outcomes, strict=True):
        results[index] = equivalent
    return results


def normalise_answer(answer: str) -> str:
    """The form answers are compared in: NFC, with full-width ASCII forms folded to ASCII."""
    return unicodedata.normalize("NFC", answer.translate(_FULL_WIDTH))


def grade_answer(solution_text: str, truth: str | None) -> tuple[str | None, bool | None]:
    """(extracted answer, whether it matches truth); correctness is None when either is missing."""
    answer = extract_answer(solution_text)
    if answer is None or truth is None or not truth.strip():
        return answer, None
    return answer, answers_equivalent(answer, truth)


def _last_boxed(text: str) -> str | None:
    for match in reversed(list(_BOX_COMMAND.finditer(text))):
        argument = _command_argument(text, match.end())
        if argument is not None:
            return argument
    return None


def _command_argument(text: str, position: int) -> str | None:
    """The argument of a LaTeX command ending at `position`: a balanced {...} group, or the bare
    token of ``\\boxed 5``."""
    after = text[position:]
    stripped = after.lstrip()
    if stripped.startswith("{"):
        open_at = position + len(after) - len(stripped)
        return _braced_group(text, open_at)
    if len(stripped) < len(after) and stripped:
        token = re.match(r"[^\s$]+", stripped)
        return token.group(0) if token else None
    return None


def _braced_group(text: str, open_at: int) -> str | None:
    depth = 0
    index = open_at
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2  # an escaped character such as \{ is never structural
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : index].strip()
        index += 1
    return None


def _after_answer_heading(text: str) -> str | None:
    headings = list(_ANSWER_HEADING.finditer(text))
    if not headings:
        return None
    for line in text[headings[-1].end() :].splitlines():
        if line.strip():
            return _clean_inline_answer(line)
    return None


def _after_answer_phrase(text: str) -> str | None:
    phrases = list(_ANSWER_PHRASE.finditer(text))
    if not phrases:
        return None
    return _clean_inline_answer(_rest_of_line(text, phrases[-1].end()))


def _after_gsm8k_mark(text: str) -> str | None:
    position = text.rfind(_GSM8K_MARK)
    if position < 0:
        return None
    return _clean_inline_answer(_rest_of_line(text, position + len(_GSM8K_MARK)))


def _rest_of_line(text: str, position: int) -> str:
    return text[position:].split("\n", 1)[0]


def _clean_inline_answer(answer: str) -> str:
    """Strip whitespace, a sentence's final period and enclosing $ signs."""
    previous = None
    while answer != previous:
        previous = answer
        answer = _strip_dollars(answer.strip().rstrip(".").strip())
    return answer


def _strip_dollars(answer: str) -> str:
    """`answer` without enclosing $ or $$ delimiters (an escaped \\$ is a dollar sign, kept)."""
    while len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$" and answer[-2] != "\\":
        answer = answer[1:-1].strip()
    return answer


# A decimal, with optional thousands separators ("1,000" but not the pair "1,2").
_PLAIN_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def _plain_numbers(predicted: str, truth: str) -> tuple[Fraction, Fraction] | None:
    """Both answers as exact numbers when both are plain decimals (no pool needed)."""
    a, b = predicted.strip(), truth.strip()
    if _PLAIN_NUMBER.match(a) and _PLAIN_NUMBER.match(b):
        return Fraction(a.replace(",", "")), Fraction(b.replace(",", ""))
    return None


def _normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


def _as_math_text(answer: str) -> str:
    """A bare LaTeX answer wrapped in $...$ so that math_verify reads it as LaTeX."""
    answer = _strip_dollars(answer.strip())
    return answer if _UNESCAPED_DOLLAR.search(answer) else f"${answer}$"
