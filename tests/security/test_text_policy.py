"""Invisible characters (annotation/core/text_policy.py): removed from a problem's identity and
from answers, refused in usernames and upload file names, shown visibly where they stay."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from annotation.core.models import Role
from annotation.core.text_policy import (
    INVISIBLE,
    filename_problem,
    invisible_in,
    shown_visibly,
    without_invisible,
)
from annotation.core.validators import validate_username_script
from annotation.datasets.errors import RecordError
from annotation.datasets.importer import import_dataset
from annotation.jobs.models import Job
from annotation.problems.models import Problem, Trace
from annotation.problems.tree import text_digest
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, ProblemFactory

ZWSP = "\u200b"
SOME_INVISIBLE = ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3164", "\u202e", "\ufe0f"]
TEXTS = st.text(
    st.one_of(st.characters(exclude_categories=["Cs"]), st.sampled_from(SOME_INVISIBLE))
)


@given(TEXTS)
def test_removing_leaves_nothing_invisible_and_is_stable(text: str) -> None:
    cleaned = without_invisible(text)
    assert INVISIBLE.search(cleaned) is None
    assert without_invisible(cleaned) == cleaned
    assert invisible_in(cleaned) == []


@given(TEXTS.filter(lambda text: "⟦" not in text))
def test_shown_visibly_hides_nothing_and_keeps_the_rest(text: str) -> None:
    shown = shown_visibly(text)
    assert INVISIBLE.search(shown) is None
    assert re.sub("⟦U\\+[0-9A-F]{4,6}⟧", "", shown) == without_invisible(text)


def test_shown_visibly_names_the_code_point() -> None:
    assert shown_visibly(f"42{ZWSP}") == "42⟦U+200B⟧"


@given(TEXTS)
def test_a_problem_digest_ignores_invisible_characters(text: str) -> None:
    assert text_digest(text) == text_digest(without_invisible(text))


def test_a_text_with_a_zero_width_space_is_the_same_problem(project):
    # given: a file with the same problem twice, once with a zero-width space
    rows = [
        {"problem": "What is 42?", "solution": "It is 42.", "answer": "42"},
        {"problem": f"What is 42?{ZWSP}", "solution": "It is 42.", "answer": "42"},
    ]
    data = "\n".join(json.dumps(row) for row in rows).encode()
    # when / then: the second line is the first one's problem, refused as a repeat
    with pytest.raises(RecordError) as caught:
        import_dataset(project=project, format_name="math", stream=io.BytesIO(data))
    assert str(caught.value).startswith("line 2: ")
    assert "the same as line 1" in str(caught.value)
    assert Problem.objects.count() == 0


def test_an_answer_is_stored_without_invisible_characters(project):
    row = {"problem": "What is 6 * 7?", "solution": "It is 42.", "answer": f"42{ZWSP}"}
    import_dataset(project=project, format_name="math", stream=io.BytesIO(json.dumps(row).encode()))
    assert Problem.objects.get().answer == "42"


@pytest.mark.parametrize("username", [f"ad{ZWSP}min", "admin\u3164", "\u115fboss", "x\u2060y"])
def test_a_username_with_an_invisible_character_is_refused(username):
    with pytest.raises(ValidationError) as caught:
        validate_username_script(username)
    assert caught.value.code == "invisible_character"


@pytest.mark.parametrize(
    "name,reason",
    [
        ("a\x00b.jsonl", "NUL"),
        ("a\x1bb.jsonl", "control character (U+001B)"),
        (f"data{ZWSP}.jsonl", "U+200B (ZERO WIDTH SPACE)"),
    ],
)
def test_a_file_name_with_a_hidden_character_is_refused(name, reason):
    assert reason in (filename_problem(name) or "")


def test_an_upload_named_with_a_nul_is_refused_not_renamed(db):
    # given
    membership = MembershipFactory(role=Role.ADMIN)
    client = APIClient()
    client.force_authenticate(membership.user)
    upload = SimpleUploadedFile("a\x00b.jsonl", b'{"problem": "x", "answer": "1"}\n')
    # when
    response = client.post(
        "/api/imports/",
        {"project": membership.project.pk, "format": "math", "file": upload},
        format="multipart",
    )
    # then
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert Job.objects.count() == 0


def record_submitted(client, *, answer: str, truth: str):
    """An annotator's thought record on a problem (answer `truth`) submitted from the editor
    with the final answer `answer`."""
    membership = MembershipFactory(role=Role.ANNOTATOR)
    ProblemFactory(project=membership.project, text="What is 6 * 7?", answer=truth)
    claim = assignment_claim_next(
        project=membership.project, user=membership.user, kind=ItemKind.RECORD
    )
    assert claim is not None
    client.force_login(membership.user)
    body = {
        "version": 1,
        "thoughts": [{"kind": "conclusion", "text": "Six sevens are $42$."}],
        "final_answer": answer,
        "finish_reason": "solution",
        "checklist": {"attempts": True, "common_knowledge": True},
    }
    return client.post(
        f"/api/work/{claim.pk}/submit", json.dumps(body), content_type="application/json"
    )


def test_an_answer_submitted_from_the_editor_is_stored_without_invisible_characters(db, client):
    # when the editor submits "42" followed by a zero-width space
    response = record_submitted(client, answer=f"42{ZWSP}", truth="42")

    # then "42" is stored, and checked against the problem's answer as "42"
    assert response.status_code == 200, response.json()
    record = Trace.objects.get(origin="thought_record")
    assert (record.final_answer, record.is_correct) == ("42", True)


def test_an_answer_of_invisible_characters_only_is_no_answer(db, client):
    response = record_submitted(client, answer=f"{ZWSP}\u2060", truth="42")

    assert response.status_code == 400
    assert response.json()["error"].startswith("Write the final answer")
    assert not Trace.objects.filter(origin="thought_record").exists()
