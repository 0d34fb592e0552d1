"""One Unicode policy: NFC for a problem's identity, NFC plus full-width folding for answers."""

import hashlib
import importlib
import unicodedata

import pytest
from django.apps import apps
from hypothesis import given
from hypothesis import strategies as st

from algorithms.answers import answers_equivalent, normalise_answer
from annotation.problems.models import Problem
from annotation.problems.tree import text_digest
from tests.factories import ProblemFactory

# Letters with accents that have both composed and decomposed forms, math symbols, ASCII.
ACCENTED = "éèêëáàâäåíìîïóòôöúùûüçñýÿÉÈÁÅÖÜÇÑṩḗǖ"
ANSWERS = st.lists(
    st.sampled_from(
        [*"0123456789+-*/^()[]{}.,=<>xyzabc\\ ", *ACCENTED, "\\frac", "\\sqrt", "π", "²"]
    ),
    min_size=1,
).map("".join)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def full_width(text: str) -> str:
    """ASCII printable characters as their full-width forms, spaces as ideographic spaces."""
    return "".join(
        "\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text
    )


@given(st.text())
def test_a_problem_digest_does_not_depend_on_the_normal_form(text: str) -> None:
    assert text_digest(nfc(text)) == text_digest(nfd(text)) == text_digest(text)


def test_a_problem_digest_is_the_sha256_of_the_nfc_text() -> None:
    assert text_digest("Cafe\u0301") == hashlib.sha256("Café".encode()).hexdigest()


@given(ANSWERS.filter(str.strip))
def test_answers_equal_up_to_normal_form_are_equivalent(answer: str) -> None:
    assert answers_equivalent(nfd(answer), nfc(answer))
    assert answers_equivalent(full_width(answer), answer)
    assert answers_equivalent(full_width(nfd(answer)), nfc(answer))


@given(st.text())
def test_answer_normalisation_is_stable(answer: str) -> None:
    once = normalise_answer(answer)
    assert normalise_answer(once) == once
    assert normalise_answer(nfd(answer)) == normalise_answer(full_width(nfc(answer))) == once


def test_answer_normalisation_folds_only_full_width_forms() -> None:
    # compatibility forms that change meaning (superscripts, ligatures) are kept as they are
    assert normalise_answer("\uff11\uff12\u3000\uff08\uff58\uff09") == "12 (x)"
    assert normalise_answer("x²") == "x²"
    assert normalise_answer("ﬁ") == "ﬁ"


@pytest.mark.django_db
def test_the_migration_rewrites_the_digests_of_texts_not_in_nfc() -> None:
    # given problems stored with digests of their text as written, one of them decomposed
    migration = importlib.import_module("annotation.problems.migrations.0003_text_digest_nfc")
    decomposed = ProblemFactory(text="Cafe\u0301 costs $x$.")
    composed = ProblemFactory(text="Café costs $y$.")
    for problem in (decomposed, composed):
        problem.text_digest = hashlib.sha256(problem.text.encode()).hexdigest()
        problem.save(update_fields=["text_digest"])

    # when the migration runs forwards, then backwards
    migration.digests_of_nfc_text(apps, None)
    forwards = dict(Problem.objects.values_list("pk", "text_digest"))
    migration.digests_of_text_as_written(apps, None)
    backwards = dict(Problem.objects.values_list("pk", "text_digest"))

    # then forwards every digest is text_digest's; backwards the old digests are back
    assert forwards == {
        decomposed.pk: text_digest(decomposed.text),
        composed.pk: text_digest(composed.text),
    }
    assert backwards == {
        decomposed.pk: hashlib.sha256(decomposed.text.encode()).hexdigest(),
        composed.pk: text_digest(composed.text),
    }
